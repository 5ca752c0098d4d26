import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import { type AppContext, argValue } from './app-options.js';
import type { Add, AppSpec } from './app-spec.js';

/** The file ckpt creates to ask LAMMPS to stop; the input polls it with `fix halt` (docs/apps.md). */
export const LAMMPS_STOP_FILE = '.ckpt-lammps-stop';

/** Restart-file patterns named by `restart` and `write_restart` in a LAMMPS input, as globs. */
export function lammpsRestartGlobs(input: string): string[] {
  const globs = new Set<string>();
  for (const line of input.split('\n')) {
    const words = line.replace(/#.*/, '').trim().split(/\s+/);
    let file: string | undefined;
    if (words[0] === 'restart' && words.length >= 3 && words[1] !== '0') file = words[2];
    if (words[0] === 'write_restart' && words.length >= 2) file = words[1];
    if (file?.includes('*')) globs.add(file.replace(/\$\{[^}]*\}|\$\w/g, '*'));
  }
  return [...globs];
}

/** The timestep in a restart file name made from a `*` pattern (`ckpt/melt.4000.restart` → 4000). */
export function restartStep(path: string): number | undefined {
  const numbers = path.match(/\d+/g);
  return numbers ? Number(numbers.at(-1)) : undefined;
}

/**
 * LAMMPS (`lmp -in IN`): LAMMPS has no SIGTERM handler, so ckpt stops it with a stop file that
 * the input polls (`fix halt … v_ckpt_stopping`), after which the input writes a final restart
 * file. ckpt captures the last-written complete restart file (written in place, so only once it is
 * closed and settled), and on restart hands LAMMPS exactly that file through `-var ckpt_restart`
 * (a `*` wildcard would make LAMMPS read the newest file even if it is torn). The input pattern
 * is in docs/apps.md: `-var ckpt_resume 1` selects `read_restart ${ckpt_restart}`.
 */
export function lammpsApp(ctx: AppContext): AppBehavior {
  const inputPath = argValue(ctx.command, '-in', '-i');
  let input = '';
  try {
    if (inputPath) input = readFileSync(join(ctx.cwd, inputPath), 'utf8');
  } catch {
    // `ckpt doctor --app lammps` reports an unreadable input
  }
  const globs = lammpsRestartGlobs(input);
  // The file written last, not the one with the largest step: restart files an earlier run left
  // with larger steps would otherwise hide every file this run writes from capture.
  const writtenAt = (file: string): number => {
    try {
      return statSync(join(ctx.cwd, file)).mtimeMs;
    } catch {
      return -1;
    }
  };
  const newest = (files: string[]): string[] => {
    const key = (f: string): [number, number] => [writtenAt(f), restartStep(f) ?? -1];
    const sorted = files.map((f) => ({ f, k: key(f) })).sort((a, b) => a.k[0] - b.k[0] || a.k[1] - b.k[1]);
    return sorted.length > 0 ? [sorted.at(-1)!.f] : [];
  };
  return {
    name: 'lammps',
    checkpointSignal: false, // periodic restart files come from the input's `restart N` command
    async command(base, start) {
      const restartFile = start.resumeFrom?.entries.find((e) => e.type === 'file')?.path;
      return [
        ...base,
        '-var',
        'ckpt_stop',
        LAMMPS_STOP_FILE,
        '-var',
        'ckpt_resume',
        restartFile ? '1' : '0',
        '-var',
        'ckpt_restart',
        restartFile ?? 'none',
      ];
    },
    capture: { globs, select: newest, stepOf: (files) => (files[0] ? restartStep(files[0]) : undefined) },
    async beforeStart(cwd) {
      await fsp.rm(join(cwd, LAMMPS_STOP_FILE), { force: true });
    },
    async requestStop({ cwd }) {
      await fsp.writeFile(
        join(cwd, LAMMPS_STOP_FILE),
        `stop requested by ckpt at ${new Date().toISOString()}\n`,
      );
    },
    async classifyExit(exit, cwd) {
      if (exit.code !== 0) return 'failed';
      const stopped = await fsp.access(join(cwd, LAMMPS_STOP_FILE)).then(
        () => true,
        () => false,
      );
      return stopped ? 'stopped' : 'finished';
    },
  };
}

function checkLammps(command: readonly string[], cwd: string, add: Add): void {
  const inputPath = argValue(command, '-in', '-i');
  if (!inputPath || !existsSync(join(cwd, inputPath))) {
    add(
      'error',
      'LMP_NO_INPUT',
      `LAMMPS input ${inputPath ? `\`${inputPath}\` not found` : 'not given (-in FILE)'}.`,
      'Run LAMMPS with `-in FILE`.',
    );
    return;
  }
  const input = readFileSync(join(cwd, inputPath), 'utf8').replace(/#.*/g, '');
  if (!/ckpt_stop/.test(input) || !/fix\s+\S+\s+\S+\s+halt/.test(input)) {
    add(
      'error',
      'LMP_NO_HALT',
      "The input has no `fix halt` on ckpt's stop file: LAMMPS has no SIGTERM handler, so ckpt cannot stop it with a checkpoint.",
      'Add `variable ckpt_stopping equal is_file(${ckpt_stop})` and `fix ckpt_halt all halt 10 v_ckpt_stopping == 1 error soft` (docs/apps.md).',
    );
  }
  if (!/ckpt_resume/.test(input) || !/read_restart\s+\$\{ckpt_restart\}/.test(input)) {
    add(
      'error',
      'LMP_NO_RESUME',
      'The input does not branch on `${ckpt_resume}` to `read_restart ${ckpt_restart}`: a restart would start over.',
      'Use the resume pattern in docs/apps.md.',
    );
  }
  // N may be a variable (`${n}`, v_n); ckpt captures only files named with `*` (the step).
  if (!/^\s*restart\s+(?!0\s)\S+\s+\S*\*/m.test(input)) {
    add(
      'warning',
      'LMP_NO_RESTART',
      'No periodic `restart N file.*` command (with the `*`, which LAMMPS replaces by the step: ckpt captures only such files): only a stop writes a checkpoint, a crash loses everything.',
      'Add `restart 1000 ckpt/run.*.restart`.',
    );
  }
  if (/^\s*run\s+\S+(?!.*upto)/m.test(input) && !/^\s*run\s+\S+.*\bupto\b/m.test(input)) {
    add(
      'warning',
      'LMP_NO_UPTO',
      '`run N` without `upto` runs N *more* steps after a restart.',
      'Use `run N upto`.',
    );
  }
  if (!/atom_modify\s+sort\s+0\s+0(\.0)?/.test(input)) {
    add(
      'warning',
      'LMP_SORT',
      'Atom sorting makes a restart differ bitwise unless it happens on a sort step.',
      'Add `atom_modify sort 0 0.0` for bitwise-identical restarts.',
    );
  }
}

export const lammps: AppSpec = {
  name: 'lammps',
  create: (ctx) => lammpsApp(ctx),
  install: {
    command: () => 'lmp',
    args: ['-h'],
    version: /Simulator - ([^\n]+)/,
    fix: 'apt-get install lammps',
  },
  doctor: checkLammps,
};
