import { constants } from 'node:os';
import type { ExitMeaning } from './app-behavior.js';
import type { StopReason } from './hooks.js';

/** How one run of the program ended. */
export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The program could not be started at all (ENOENT, EACCES). */
  startError?: string;
  /** What the exit means (the app's reading, or by exit code). */
  meaning?: ExitMeaning;
}

/** How `ckpt run` ended, for the CLI to turn into an exit. */
export interface RunOutcome {
  kind: 'finished' | 'interrupted' | 'requeued' | 'fenced' | 'failed' | 'cannot-start';
  exit: ProgramExit;
  restarts: number;
  message: string;
}

/** `SIGTERM (user cancel)`, `deadline near (SIGUSR2 from the scheduler)` */
export function describeStop(reason: StopReason): string {
  switch (reason.kind) {
    case 'signal':
      return `${reason.signal} received (${reason.meaning})`;
    case 'deadline':
      return `deadline near (${reason.detail})`;
    default:
      return `fenced (${reason.detail})`;
  }
}

/** The exit status a shell would report for `exit`: the code, or 128 + the signal number. */
export function shellStatus(exit: ProgramExit): number {
  if (exit.code !== null) return exit.code;
  if (exit.signal) return 128 + (constants.signals[exit.signal] ?? 0);
  return 1;
}
