import type { ProgramExit } from './outcome.js';

/**
 * A program that fails this soon after starting from a state, without committing anything new,
 * failed *because of* that state (a checkpoint it cannot load, a torn file of its own).
 */
export const RESTART_LOOP_WINDOW_MS = 60_000;
/** Quick failures in a row from the same state before ckpt gives that state up. */
export const RESTART_LOOP_FAILURES = 2;
/** Signals that are the program's own fault; SIGKILL and SIGTERM come from outside (OOM, a user). */
const FAULT_SIGNALS = new Set(['SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTRAP', 'SIGSYS']);

/** What a segment started from. */
export interface SegmentStart {
  /** The checkpoint restored, if any. */
  seq: number | undefined;
  /** The program started on files of its own that no checkpoint vouches for (no checkpoint yet). */
  ownFiles: boolean;
  at: number;
}

/** What to do about a state the program keeps failing on. */
export type LoopVerdict =
  | { action: 'none' }
  | { action: 'set-aside-own-files' }
  | { action: 'mark-failing'; seq: number; why: string };

/**
 * Whether an exit is a failure at start: a non-zero exit code (or a fault signal) within
 * {@link RESTART_LOOP_WINDOW_MS} of the start, with no new checkpoint since. Pure.
 */
export function isQuickFailure(
  exit: ProgramExit,
  start: SegmentStart,
  endedAt: number,
  progressed: boolean,
): boolean {
  if (progressed || endedAt - start.at > RESTART_LOOP_WINDOW_MS) return false;
  if (exit.startError !== undefined) return false;
  if (exit.signal) return FAULT_SIGNALS.has(exit.signal);
  return exit.code !== null && exit.code !== 0;
}

/**
 * Counts quick failures from the same state and says when to give that state up (docs/protocol.md,
 * "Restart loop"): after {@link RESTART_LOOP_FAILURES} in a row, a checkpoint is marked failing
 * (the next start uses the next older one), or, when the program started on files of its own,
 * those are set aside.
 */
export class RestartLoopTracker {
  private state: string | undefined;
  private count = 0;

  record(start: SegmentStart, quick: boolean, exit: ProgramExit): LoopVerdict {
    const key = `${start.seq ?? 'none'}:${start.ownFiles}`;
    if (!quick) {
      this.state = undefined;
      this.count = 0;
      return { action: 'none' };
    }
    this.count = this.state === key ? this.count + 1 : 1;
    this.state = key;
    if (this.count < RESTART_LOOP_FAILURES) return { action: 'none' };
    this.state = undefined;
    this.count = 0;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited ${exit.code}`;
    if (start.ownFiles) return { action: 'set-aside-own-files' };
    if (start.seq === undefined) return { action: 'none' };
    return {
      action: 'mark-failing',
      seq: start.seq,
      why: `the program ${how} ${RESTART_LOOP_FAILURES} times in a row right after starting from it, before checkpointing again`,
    };
  }
}
