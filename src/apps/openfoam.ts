import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import { ASIDE_DIR } from '../supervisor/prepare-restore.js';
import { type AppContext, argValue } from './app-options.js';
import type { Add, AppSpec } from './app-spec.js';

/** Where Debian's OpenFOAM lives (its bashrc prints errors when sourced; the env variable suffices). */
export const DEBIAN_OPENFOAM_DIR = '/usr/share/openfoam';

/** A controlDict entry (`endTime 0.5;`), or undefined. */
export function controlDictEntry(text: string, key: string): string | undefined {
  return new RegExp(`^\\s*${key}\\s+([^;]+);`, 'm').exec(text.replace(/\/\/.*$/gm, ''))?.[1]?.trim();
}

/** Time directories (`0.01`, `1e-05`…) among the first path components, newest first; never `0`. */
export function timeDirectories(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const first = p.split('/')[0]!;
    if (first !== '0' && /^[0-9.eE+-]+$/.test(first) && Number.isFinite(Number(first))) dirs.add(first);
  }
  return [...dirs].sort((a, b) => Number(b) - Number(a));
}

/** How OpenFOAM ends every file it writes, binary fields included: a file without it is torn. */
const FOOTER = '// ************************************************************************* //';

/** Whether `path` is a complete OpenFOAM file (compressed files are taken as they are). */
function hasFooter(path: string): boolean {
  if (path.endsWith('.gz')) return true;
  try {
    const size = statSync(path).size;
    const tail = Buffer.alloc(Math.min(size, FOOTER.length + 16));
    const fd = openSync(path, 'r');
    try {
      readSync(fd, tail, 0, tail.length, size - tail.length);
    } finally {
      closeSync(fd);
    }
    return tail.toString('latin1').includes(FOOTER);
  } catch {
    return false;
  }
}

/**
 * Whether time directory `dir` holds every field (`fields`, the names in `0/`), each written to
 * the end. A crash while writing leaves a directory without some fields or with a field cut off.
 */
function timeComplete(dir: string, fields: readonly string[]): boolean {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return false;
  }
  return fields.every((field) => {
    const name = names.includes(field) ? field : names.includes(`${field}.gz`) ? `${field}.gz` : undefined;
    return name !== undefined && hasFooter(join(dir, name));
  });
}

/** The processor directories of a decomposed case (`processor0`, `processor1`…), in order. */
export function processorDirectories(caseDir: string): string[] {
  try {
    return readdirSync(caseDir)
      .filter((name) => /^processor\d+$/.test(name))
      .sort((a, b) => Number(a.slice(9)) - Number(b.slice(9)));
  } catch {
    return [];
  }
}

/**
 * OpenFOAM solvers (`icoFoam`, …): started with `stopAtWriteNowSignal` (write the current time
 * and exit 0) and `writeNowSignal=12` (SIGUSR2 writes and keeps running: ckpt's checkpoint
 * request). ckpt captures the newest time directory once it holds every field the `0/` directory
 * has and nothing in it is being written; a torn newest directory (fatal to OpenFOAM on restart)
 * is set aside before a restart. `startFrom latestTime` makes the restart command the start
 * command. Exit 0 before endTime means stopped, not finished.
 *
 * A decomposed case run in parallel (`mpirun -np N SOLVER -parallel`) has its time directories
 * in `processor*`: a time counts only once every processor directory holds it complete, the
 * capture takes that time of all processors together, and before a restart every processor's
 * times newer than the newest complete common one are set aside, so that all ranks resume from
 * the same time. The stop is SIGUSR1 (`stopAtWriteNowSignal=10`) to mpirun, which forwards it to
 * every rank: mpirun answers SIGTERM by ending the ranks before they could write.
 */
export function openfoamApp(ctx: AppContext): AppBehavior {
  const caseArg = argValue(ctx.command, '-case');
  const caseDir = resolve(ctx.cwd, caseArg ?? '.');
  const parallel = ctx.command.includes('-parallel');
  // Capture paths are relative to the working directory; time directories to the case.
  const prefix =
    caseArg === undefined || caseDir === resolve(ctx.cwd) ? '' : `${caseArg.replace(/\/$/, '')}/`;
  const local = (p: string): string => p.slice(prefix.length);
  /** The files of a time directory (its fields), or []. */
  const filesIn = (time: string): string[] => {
    try {
      return readdirSync(join(caseDir, time), { withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => e.name);
    } catch {
      return [];
    }
  };
  /** The roots that hold time directories: the case, or each of its processor directories. */
  const roots = (): string[] => (parallel ? processorDirectories(caseDir) : ['.']);
  /** The fields every time directory of `root` must hold: the files in its `0/`. */
  const fields = (root = '.'): string[] => filesIn(join(root, '0'));
  /** Splits a case-relative path into its root and the rest (`processor1/0.02/U`). */
  const split = (path: string): [string, string] => {
    if (!parallel) return ['.', path];
    const cut = path.indexOf('/');
    return cut < 0 ? [path, ''] : [path.slice(0, cut), path.slice(cut + 1)];
  };
  /** The newest time every root holds among `paths` (case-relative), or undefined. */
  const newestCommon = (paths: readonly string[]): string | undefined => {
    const all = roots();
    const byRoot = new Map<string, string[]>();
    for (const p of paths) {
      const [root, rest] = split(p);
      byRoot.set(root, [...(byRoot.get(root) ?? []), rest]);
    }
    const timesOf = all.map((root) => new Set(timeDirectories(byRoot.get(root) ?? [])));
    return timeDirectories(paths.map((p) => split(p)[1])).find((t) => timesOf.every((times) => times.has(t)));
  };
  return {
    name: 'openfoam',
    checkpointSignal: 'SIGUSR2',
    env() {
      return !process.env.WM_PROJECT_DIR && existsSync(DEBIAN_OPENFOAM_DIR)
        ? { WM_PROJECT_DIR: DEBIAN_OPENFOAM_DIR }
        : {};
    },
    async command(base) {
      const stop = parallel ? '10' : '15';
      return [...base, '-opt-switch', `stopAtWriteNowSignal=${stop}`, '-opt-switch', 'writeNowSignal=12'];
    },
    capture: {
      globs: [parallel ? `${prefix}processor*/[0-9]*/**` : `${prefix}[0-9]*/**`],
      select(matches) {
        const newest = newestCommon(matches.map(local));
        return newest === undefined ? [] : matches.filter((m) => split(local(m))[1].startsWith(`${newest}/`));
      },
      async isComplete(files) {
        return roots().every((root) => {
          const names = new Set(
            files.map(local).flatMap((f) => (split(f)[0] === root ? [f.split('/').at(-1)] : [])),
          );
          return fields(root).every((field) => names.has(field) || names.has(`${field}.gz`));
        });
      },
      stepOf(files) {
        const dir = timeDirectories(files.map((f) => split(local(f))[1]))[0];
        return dir === undefined ? undefined : Number(dir);
      },
    },
    async beforeStart() {
      // A crash while a time directory was being written leaves it torn, and OpenFOAM resumes
      // from the newest one ("cannot find file"). Files newer than a checkpoint were set aside
      // already; this covers a crash before the first checkpoint (nothing to compare with).
      // Each is compared with the next older one (then `0/`): a file in `0/` that the solver
      // never writes must not make every time directory look torn.
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const setAside = async (root: string, time: string, why: string): Promise<void> => {
        const to = join(caseDir, ASIDE_DIR, stamp, root);
        await mkdir(to, { recursive: true, mode: 0o700 });
        await rename(join(caseDir, root, time), join(to, time));
        const where = root === '.' ? `${time}/` : `${root}/${time}/`;
        process.stderr.write(`ckpt: set aside the ${why} time directory ${where} into ${ASIDE_DIR}/\n`);
      };
      const complete = new Map<string, string | undefined>();
      for (const root of roots()) {
        const times = timeDirectories(readdirSync(join(caseDir, root)));
        complete.set(root, undefined);
        for (const [i, time] of times.entries()) {
          const older = times[i + 1];
          const wanted =
            older === undefined
              ? fields(root)
              : filesIn(join(root, older)).map((f) => f.replace(/\.gz$/, ''));
          if (timeComplete(join(caseDir, root, time), wanted)) {
            complete.set(root, time);
            break;
          }
          await setAside(root, time, 'incomplete');
        }
      }
      if (!parallel) return;
      // Every rank resumes from its newest time: make it the same one, the oldest of the newest.
      const newest = [...complete.values()].map((t) => (t === undefined ? 0 : Number(t)));
      const common = Math.min(...newest);
      for (const root of complete.keys()) {
        for (const time of timeDirectories(readdirSync(join(caseDir, root)))) {
          if (Number(time) > common) await setAside(root, time, 'unmatched (not every processor has it)');
        }
      }
    },
    async requestStop({ pgid }) {
      try {
        // mpirun (the group's leader) forwards SIGUSR1 to every rank.
        if (parallel) process.kill(pgid, 'SIGUSR1');
        else process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
    async classifyExit(exit) {
      if (exit.code !== 0) return 'failed';
      const control = readFileSync(join(caseDir, 'system', 'controlDict'), 'utf8');
      const endTime = Number(controlDictEntry(control, 'endTime'));
      const latest = timeDirectories(readdirSync(join(caseDir, roots()[0] ?? '.')))[0];
      return latest !== undefined && Number.isFinite(endTime) && Number(latest) < endTime - 1e-12
        ? 'stopped'
        : 'finished';
    },
  };
}

function checkOpenfoam(command: readonly string[], cwd: string, add: Add): void {
  const caseDir = resolve(cwd, argValue(command, '-case') ?? '.');
  const path = join(caseDir, 'system', 'controlDict');
  if (!existsSync(path)) {
    add(
      'error',
      'FOAM_NO_CASE',
      `No controlDict at \`${path}\`.`,
      'Run ckpt in the case directory or pass -case DIR.',
    );
    return;
  }
  const control = readFileSync(path, 'utf8');
  if (controlDictEntry(control, 'startFrom') !== 'latestTime') {
    add(
      'error',
      'FOAM_START_FROM',
      `startFrom is \`${controlDictEntry(control, 'startFrom') ?? 'unset'}\`: a restart would not resume from the last written time.`,
      'Set `startFrom latestTime;` in system/controlDict.',
    );
  }
  const format = controlDictEntry(control, 'writeFormat') ?? 'ascii';
  const precision = Number(controlDictEntry(control, 'writePrecision') ?? 6);
  if (format === 'ascii' && precision < 17) {
    add(
      'warning',
      'FOAM_ASCII',
      `writeFormat ascii with writePrecision ${precision}: restarts differ from an uninterrupted run (~1e-${precision + 1}).`,
      'Set `writeFormat binary;` for exact restarts.',
    );
  }
}

export const openfoam: AppSpec = {
  name: 'openfoam',
  create: (ctx) => openfoamApp(ctx),
  install: {
    command: () => 'icoFoam',
    args: ['-help'],
    version: /Using:\s*(OpenFOAM[^\n-]*-[^\n]*)/,
    fix: 'apt-get install openfoam',
    env: { WM_PROJECT_DIR: DEBIAN_OPENFOAM_DIR },
  },
  doctor: checkOpenfoam,
};
