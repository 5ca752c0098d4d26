import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import { ASIDE_DIR } from '../supervisor/prepare-restore.js';
import { type AppContext, argValue } from './app-options.js';

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

/**
 * OpenFOAM solvers (`icoFoam`, …): started with `stopAtWriteNowSignal=15` (SIGTERM writes the
 * current time and exits 0) and `writeNowSignal=12` (SIGUSR2 writes and keeps running: ckpt's
 * checkpoint request). ckpt captures the newest time directory once it holds every field the
 * `0/` directory has and nothing in it is being written; a torn newest directory (fatal to
 * OpenFOAM on restart) is set aside before a restart. `startFrom latestTime` makes the restart
 * command the start command. Exit 0 before endTime means stopped, not finished.
 */
export function openfoamApp(ctx: AppContext): AppBehavior {
  const caseArg = argValue(ctx.command, '-case');
  const caseDir = resolve(ctx.cwd, caseArg ?? '.');
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
  /** The fields every time directory must hold: the files in `0/`. */
  const fields = (): string[] => filesIn('0');
  return {
    name: 'openfoam',
    checkpointSignal: 'SIGUSR2',
    env() {
      return !process.env.WM_PROJECT_DIR && existsSync(DEBIAN_OPENFOAM_DIR)
        ? { WM_PROJECT_DIR: DEBIAN_OPENFOAM_DIR }
        : {};
    },
    async command(base) {
      return [...base, '-opt-switch', 'stopAtWriteNowSignal=15', '-opt-switch', 'writeNowSignal=12'];
    },
    capture: {
      globs: [`${prefix}[0-9]*/**`],
      select(matches) {
        const newest = timeDirectories(matches.map(local))[0];
        return newest === undefined ? [] : matches.filter((m) => local(m).startsWith(`${newest}/`));
      },
      async isComplete(files) {
        const names = new Set(files.map((f) => f.split('/').at(-1)));
        return fields().every((field) => names.has(field) || names.has(`${field}.gz`));
      },
      stepOf(files) {
        const dir = timeDirectories(files.map(local))[0];
        return dir === undefined ? undefined : Number(dir);
      },
    },
    async beforeStart() {
      // A crash while a time directory was being written leaves it torn, and OpenFOAM resumes
      // from the newest one ("cannot find file"). Files newer than a checkpoint were set aside
      // already; this covers a crash before the first checkpoint (nothing to compare with).
      // Each is compared with the next older one (then `0/`): a file in `0/` that the solver
      // never writes must not make every time directory look torn.
      const times = timeDirectories(readdirSync(caseDir));
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      for (const [i, time] of times.entries()) {
        const older = times[i + 1];
        const wanted = older === undefined ? fields() : filesIn(older).map((f) => f.replace(/\.gz$/, ''));
        if (timeComplete(join(caseDir, time), wanted)) return;
        await mkdir(join(caseDir, ASIDE_DIR, stamp), { recursive: true, mode: 0o700 });
        await rename(join(caseDir, time), join(caseDir, ASIDE_DIR, stamp, time));
        process.stderr.write(`ckpt: set aside the incomplete time directory ${time}/ into ${ASIDE_DIR}/\n`);
      }
    },
    async requestStop({ pgid }) {
      try {
        process.kill(-pgid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
    async classifyExit(exit) {
      if (exit.code !== 0) return 'failed';
      const control = readFileSync(join(caseDir, 'system', 'controlDict'), 'utf8');
      const endTime = Number(controlDictEntry(control, 'endTime'));
      const latest = timeDirectories(readdirSync(caseDir))[0];
      return latest !== undefined && Number.isFinite(endTime) && Number(latest) < endTime - 1e-12
        ? 'stopped'
        : 'finished';
    },
  };
}
