import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
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
  const fields = (): string[] => {
    try {
      return readdirSync(join(caseDir, '0'));
    } catch {
      return [];
    }
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
        return fields().every((field) => names.has(field));
      },
      stepOf(files) {
        const dir = timeDirectories(files.map(local))[0];
        return dir === undefined ? undefined : Number(dir);
      },
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
