import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import { signalGroup } from '../supervisor/index.js';
import { type AppContext, argValue, tailOf, withoutArg } from './app-options.js';
import type { Add, AppSpec } from './app-spec.js';

/** The files `gmx mdrun` writes, from -deffnm or the individual options (GROMACS defaults otherwise). */
export function gromacsFiles(argv: readonly string[]): { cpt: string; outputs: string[]; log: string } {
  const deffnm = argValue(argv, '-deffnm');
  const name = (flag: string, ext: string, fallback: string): string =>
    argValue(argv, flag) ?? (deffnm ? `${deffnm}.${ext}` : fallback);
  const log = name('-g', 'log', 'md.log');
  return {
    cpt: name('-cpo', 'cpt', 'state.cpt'),
    log,
    outputs: [
      log,
      name('-e', 'edr', 'ener.edr'),
      name('-x', 'xtc', 'traj_comp.xtc'),
      name('-o', 'trr', 'traj.trr'),
    ],
  };
}

/** size:mtime:inode of a file, or undefined when it does not exist. */
async function signature(path: string): Promise<string | undefined> {
  const stat = await fsp.stat(path).catch(() => undefined);
  return stat ? `${stat.size}:${stat.mtimeMs}:${stat.ino}` : undefined;
}

/**
 * What the latest start of mdrun wrote to its log: from its last header on ('' when it wrote
 * nothing since `before`, the log's signature at the start). An appended log also holds the
 * earlier starts' lines ("Received the TERM signal"…), which must not count. With -noappend
 * the log of the start is the newest `NAME.partNNNN.log`.
 */
export async function logOfThisStart(cwd: string, log: string, before: string | undefined): Promise<string> {
  const stem = basename(log).replace(/\.log$/, '');
  const parts = (await fsp.readdir(join(cwd, dirname(log))).catch(() => [] as string[]))
    .filter((f) => f.startsWith(`${stem}.part`) && /\.part\d+\.log$/.test(f))
    .sort()
    .map((f) => join(dirname(log), f));
  let newest: { path: string; mtime: number } | undefined;
  for (const path of [log, ...parts]) {
    const stat = await fsp.stat(join(cwd, path)).catch(() => undefined);
    // On a tie (coarse file times) the later part wins: part logs come from later starts.
    if (stat && (!newest || stat.mtimeMs >= newest.mtime)) newest = { path, mtime: stat.mtimeMs };
  }
  if (!newest || (newest.path === log && (await signature(join(cwd, log))) === before)) return '';
  const text = await tailOf(join(cwd, newest.path));
  const at = text.lastIndexOf(':-) GROMACS - gmx mdrun');
  return at < 0 ? text : text.slice(at);
}

/**
 * GROMACS (`gmx mdrun`): checkpoints every `--every` via `-cpt` (fractional minutes work), stops
 * gracefully with one SIGTERM (mdrun writes its .cpt at the next neighbour-search step and exits
 * 1, which is not a failure: the log says "Received the TERM signal"), captures the .cpt with the
 * log/energy/trajectory files appending needs, and restarts with `-cpi`. A second signal would
 * make mdrun stop at the next step from a checkpoint that does not restart bitwise, so after
 * the grace period ckpt sends SIGKILL, never a second TERM.
 */
export function gromacsApp(ctx: AppContext): AppBehavior {
  const files = gromacsFiles(ctx.command);
  let logAtStart: string | undefined;
  return {
    name: 'gromacs',
    checkpointSignal: false, // mdrun checkpoints on its -cpt schedule; no "checkpoint now" signal
    async command(base, start) {
      let argv = [...base];
      if (ctx.everyMs !== undefined && argValue(argv, '-cpt') === undefined) {
        argv.push('-cpt', String(Math.max(ctx.everyMs / 60_000, 0.01)));
      }
      if (start.resumeFrom) {
        argv = withoutArg(argv, '-cpi');
        argv.push('-cpi', files.cpt);
        // Appending needs the old outputs present and intact; without them, start new files.
        const outputsThere = [files.log].every((f) => existsSync(join(start.cwd, f)));
        if (!outputsThere && !argv.includes('-noappend')) argv.push('-noappend');
      }
      logAtStart = await signature(join(start.cwd, files.log));
      return argv;
    },
    capture: {
      globs: [files.cpt],
      async include(cwd) {
        return files.outputs.filter((f) => existsSync(join(cwd, f)));
      },
    },
    async requestStop({ pgid }) {
      signalGroup(pgid, 'SIGTERM');
    },
    async classifyExit(exit, cwd) {
      if (exit.code !== 0 && exit.code !== 1) return 'failed';
      const log = await logOfThisStart(cwd, files.log, logAtStart);
      // `-maxh` ends the run early with a checkpoint and exit 0: resumable, not finished.
      if (exit.code === 0)
        return /Run time exceeded .* will terminate the run/.test(log) ? 'stopped' : 'finished';
      return /Received the (TERM|INT) signal/.test(log) ? 'stopped' : 'failed';
    },
  };
}

/** `-cpt -1`, `-nsteps`, and pressure coupling that resumes inexactly. */
async function checkGromacs(command: readonly string[], cwd: string, add: Add): Promise<void> {
  if (argValue(command, '-cpt') === '-1') {
    add(
      'error',
      'GMX_NO_CHECKPOINTS',
      '`-cpt -1` disables checkpoints: a stop or crash loses the whole run.',
      'Remove `-cpt -1`; ckpt sets -cpt from --every.',
    );
  }
  if (command.includes('-nsteps')) {
    add(
      'warning',
      'GMX_NSTEPS',
      '`-nsteps` on a restart means that many *more* steps: resumed runs overshoot.',
      'Put the total number of steps in the .tpr (nsteps in the .mdp) and drop -nsteps.',
    );
  }
  await checkGromacsCoupling(command, cwd, add);
}

/** Pressure coupling algorithms after which a resumed mdrun was measured not to be bitwise identical. */
const GMX_INEXACT_PCOUPL = ['C-rescale', 'Parrinello-Rahman', 'MTTK'];

/**
 * Reads the run's pressure coupling from its .tpr (`gmx dump -s`): with C-rescale or
 * Parrinello-Rahman a resumed run is a valid continuation, not a bitwise copy (docs/apps.md).
 */
async function checkGromacsCoupling(command: readonly string[], cwd: string, add: Add): Promise<void> {
  const deffnm = argValue(command, '-deffnm');
  const tpr = argValue(command, '-s') ?? (deffnm ? `${deffnm}.tpr` : 'topol.tpr');
  if (!existsSync(join(cwd, tpr))) return;
  const pcoupl = await new Promise<string | undefined>((resolveDump) => {
    execFile(
      'gmx',
      ['-quiet', 'dump', '-s', join(cwd, tpr)],
      { timeout: 20_000, maxBuffer: 256 << 20 },
      (_e, stdout) => resolveDump(/^\s*pcoupl\s*=\s*(\S+)/m.exec(stdout ?? '')?.[1]),
    );
  });
  if (pcoupl && GMX_INEXACT_PCOUPL.some((name) => name.toLowerCase() === pcoupl.toLowerCase())) {
    add(
      'warning',
      'GMX_NOT_BITWISE',
      `pcoupl = ${pcoupl} in ${tpr}: a resumed run is a valid continuation, but expect it to be statistically equivalent, not bitwise identical, to an uninterrupted run (measured with GROMACS 2022.5: 15 of 18 stop-and-resume runs with C-rescale or Parrinello-Rahman diverged, -reprod included; thermostats alone and Berendsen pressure coupling resumed identically).`,
      'Nothing to fix for production runs. Compare resumed runs by their averages, not bit for bit.',
    );
  }
}

export const gromacs: AppSpec = {
  name: 'gromacs',
  create: (ctx) => gromacsApp(ctx),
  install: {
    command: () => 'gmx',
    args: ['--version'],
    version: /GROMACS version:\s*(\S+)/,
    fix: 'apt-get install gromacs',
  },
  doctor: checkGromacs,
};
