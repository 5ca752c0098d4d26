import type { Manifest } from '../store/index.js';
import type { ProgramExit } from './outcome.js';
import type { RunOptions } from './run-options.js';

/** Which files make a checkpoint, and when they are complete. */
export interface CapturePlan {
  /** Globs (relative to the working directory) of the files that make a checkpoint. */
  globs: string[];
  /** Picks the checkpoint from the matches (e.g. only the newest restart file); default: all. */
  select?(matches: string[]): string[];
  /** Files captured along with a checkpoint as they are at that moment (logs that keep growing). */
  include?(cwd: string): Promise<string[]>;
  /** An app-specific completeness check on the selected files (e.g. a time directory has every field). */
  isComplete?(files: string[], cwd: string): Promise<boolean>;
  /** The simulation step a checkpoint belongs to, read from its files. */
  stepOf?(files: string[]): number | undefined;
  /**
   * The app's own settle time in ms, instead of `--settle`: for apps that rewrite their files in
   * place more often than `--settle` allows, between quiet moments.
   */
  settleMs?: number;
  /**
   * Files the app holds open for writing the whole run (NWChem's runtime database) and that are
   * whole whenever no write is under way: judged by the settle time alone, not by being closed.
   */
  heldOpen?: readonly string[];
  /**
   * Whether a file belongs to a checkpoint only once the program has exited (Quantum ESPRESSO's
   * SCF-loop state, written when it stops and held open while it runs after a resume): while the
   * program runs such files are left out of a capture, neither taken nor waited for.
   */
  onlyAfterExit?(path: string): boolean;
}

/** What an exit means for this app: finished its work, stopped on request, or failed. */
export type ExitMeaning = 'finished' | 'stopped' | 'failed';

/**
 * How `ckpt run` drives one kind of program (the apps layer implements it for GROMACS, LAMMPS,
 * OpenFOAM…). Every member is optional; without an app, ckpt uses the generic protocol.
 */
export interface AppBehavior {
  name: string;
  /** The command for this start: adds restart arguments when resuming, interval flags… */
  command?(
    base: readonly string[],
    start: { resumeFrom: Manifest | undefined; cwd: string },
  ): Promise<string[]>;
  /** Extra environment for the program. */
  env?(): Record<string, string>;
  /** The app's checkpoint files (replaces `--capture` globs). */
  capture?: CapturePlan;
  /** The signal that asks for a checkpoint now, or false when the app checkpoints on its own schedule. */
  checkpointSignal?: NodeJS.Signals | false;
  /** Asks the app to write a checkpoint and stop (signal, stop file…); ckpt then waits up to --grace. */
  requestStop?(ctx: { pgid: number; cwd: string }): Promise<void>;
  /** Says what an exit means (an app may exit 1 after a clean stop, or 0 when stopped early). */
  classifyExit?(exit: ProgramExit, cwd: string): Promise<ExitMeaning>;
  /** Runs before each start (e.g. removes a stop file left by the last stop). */
  beforeStart?(cwd: string): Promise<void>;
}

/**
 * How a graceful stop asks for the last checkpoint: the app's own way (a signal, a stop file…),
 * after which ckpt waits for the exit; or the checkpoint signal, after which it waits for a commit.
 */
export type StopRequest =
  | { kind: 'app'; request(ctx: { pgid: number; cwd: string }): Promise<void> }
  | { kind: 'checkpoint-signal' };

/**
 * {@link AppBehavior} completed once per run: every member present, the generic protocol's
 * behaviour where the app has none (or there is no app), so that no phase tests for a missing one.
 */
export interface ResolvedApp {
  /** Whether an app drives the program, or the generic protocol (`--capture`, `--signal`). */
  kind: 'app' | 'generic';
  command: NonNullable<AppBehavior['command']>;
  env: NonNullable<AppBehavior['env']>;
  capture: CapturePlan;
  checkpointSignal: NodeJS.Signals | false;
  stop: StopRequest;
  classifyExit: NonNullable<AppBehavior['classifyExit']>;
  beforeStart: NonNullable<AppBehavior['beforeStart']>;
}

/**
 * Completes `app` with the generic protocol: the command as given, no extra environment, the
 * `--capture` globs, the `--signal` checkpoint signal, exit 0 finished and anything else failed.
 */
export function resolveApp(
  app: AppBehavior | undefined,
  options: Pick<RunOptions, 'capture' | 'signal'>,
): ResolvedApp {
  const generic: ResolvedApp = {
    kind: 'generic',
    command: async (base) => [...base],
    env: () => ({}),
    capture: { globs: options.capture },
    checkpointSignal: options.signal,
    stop: { kind: 'checkpoint-signal' },
    classifyExit: async (exit) => (exit.code === 0 ? 'finished' : 'failed'),
    beforeStart: async () => {},
  };
  if (app === undefined) return generic;
  return {
    kind: 'app',
    command: app.command ?? generic.command,
    env: app.env ?? generic.env,
    capture: app.capture ?? generic.capture,
    checkpointSignal: app.checkpointSignal ?? generic.checkpointSignal,
    stop: app.requestStop ? { kind: 'app', request: app.requestStop } : generic.stop,
    classifyExit: app.classifyExit ?? generic.classifyExit,
    beforeStart: app.beforeStart ?? generic.beforeStart,
  };
}
