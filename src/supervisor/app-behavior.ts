import type { Manifest } from '../store/index.js';
import type { ProgramExit } from './outcome.js';

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
