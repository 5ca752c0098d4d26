import { resolve } from 'node:path';
import type { Lease, Store } from '../store/index.js';
import { type AppBehavior, type ResolvedApp, resolveApp } from './app-behavior.js';
import { type ResolvedHooks, resolveHooks, type StopReason, type SupervisorHooks } from './hooks.js';
import type { RunOptions } from './run-options.js';
import type { SupervisorState } from './supervisor.js';
import { createWarnOnce, type WarnOnce } from './warn-once.js';

/** What a {@link import('./supervisor.js').Supervisor} is given. */
export interface SupervisorDeps {
  store: Store;
  options: RunOptions;
  command: readonly string[];
  cwd: string;
  /** Where progress lines go (stderr in the CLI). */
  log: (line: string) => void;
  /** A scheduler integration (SLURM), if any. */
  hooks?: SupervisorHooks;
  /** How to drive a specific app (GROMACS, LAMMPS…), if any. */
  app?: AppBehavior;
}

/**
 * {@link SupervisorDeps} resolved once: `app` and `hooks` complete (no-op defaults where none is
 * given), the restore directory known. No phase tests for a missing member.
 */
export interface ResolvedDeps {
  readonly store: Store;
  readonly options: RunOptions;
  readonly command: readonly string[];
  readonly cwd: string;
  readonly log: (line: string) => void;
  readonly app: ResolvedApp;
  readonly hooks: ResolvedHooks;
  /** Where checkpoints are restored to and captured from: `--restore-dir`, else the working directory. */
  readonly restoreDir: string;
}

/** Completes `deps` into {@link ResolvedDeps}. */
export function resolveDeps(deps: SupervisorDeps): ResolvedDeps {
  return {
    store: deps.store,
    options: deps.options,
    command: deps.command,
    cwd: deps.cwd,
    log: deps.log,
    app: resolveApp(deps.app, deps.options),
    hooks: resolveHooks(deps.hooks),
    restoreDir: deps.options.restoreDir ?? resolve(deps.cwd),
  };
}

/**
 * One `ckpt run` as its phases see it: the resolved inputs, the lease, and the little state they
 * share. The supervisor creates it once it holds the lease.
 */
export interface RunContext extends ResolvedDeps {
  readonly lease: Lease;
  /** Set by the phases: starting (supervisor.ts), running (spawn-and-watch.ts), stopping (graceful-stop.ts)… */
  state: SupervisorState;
  /** The program's process group, from its start until its exit has been cleaned up after. */
  pgid: number | undefined;
  /** Set the moment the program exits: no look after that is a "running" one. */
  exited: boolean;
  /** Why the program must stop, once that is decided (graceful-stop.ts); it never changes after. */
  stopRequested: StopReason | undefined;
  /** When the stop's grace period ends (graceful-stop.ts): nothing after the exit may wait past it. */
  stopDeadline: number | undefined;
  /** Ends a backoff wait at once (when a stop comes during it); a no-op at other times. */
  wake: () => void;
  readonly warnOnce: WarnOnce;
}

/** A {@link RunContext} before the first start. */
export function createRunContext(deps: ResolvedDeps, lease: Lease): RunContext {
  return {
    ...deps,
    lease,
    state: 'starting',
    pgid: undefined,
    exited: true,
    stopRequested: undefined,
    stopDeadline: undefined,
    wake: () => {},
    warnOnce: createWarnOnce(deps.store, deps.log),
  };
}

/** The sequence number of the store's newest checkpoint, 0 when there is none. */
export async function newestSeq(store: Store): Promise<number> {
  return (await store.listSeqs()).at(-1) ?? 0;
}
