import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import { signalGroup } from '../supervisor/index.js';
import { type AppContext, argValue, tailOf, withoutArg } from './app-options.js';

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
      if (exit.code === 0) return 'finished';
      const log = await tailOf(join(cwd, files.log));
      if (exit.code === 1 && /Received the (TERM|INT) signal/.test(log)) return 'stopped';
      return 'failed';
    },
  };
}
