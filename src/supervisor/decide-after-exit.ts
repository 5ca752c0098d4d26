import { appendJournal, noteJournal } from '../store/index.js';
import type { StopReason } from './hooks.js';
import type { ProgramExit, RunOutcome } from './outcome.js';
import { describeExit, outcomeMessage } from './outcome-messages.js';
import { decideRestart } from './restart-decision.js';
import { isQuickFailure, RestartLoopTracker, type SegmentStart } from './restart-loop.js';
import type { RunContext } from './run-context.js';

/** What the decisions after an exit remember from one start of the program to the next. */
export interface RestartMemory {
  restarts: number;
  /** Crashes since the program last committed a new checkpoint: the backoff's exponent. */
  crashesWithoutProgress: number;
  /** Whether the last segment committed a checkpoint (then a crash starts the backoff afresh). */
  progressed: boolean;
  /** What the last segment started from (for the restart loop). */
  segmentStart: SegmentStart;
  readonly loop: RestartLoopTracker;
  /** Checkpoints the program failed on right after starting (the restart loop), with why. */
  readonly failing: Map<number, string>;
  /** The program failed twice right after starting on its own files: set them aside next start. */
  asideOwnFiles: boolean;
}

/** A {@link RestartMemory} before the first start. */
export function newRestartMemory(): RestartMemory {
  return {
    restarts: 0,
    crashesWithoutProgress: 0,
    progressed: false,
    segmentStart: { seq: undefined, ownFiles: false, at: 0 },
    loop: new RestartLoopTracker(),
    failing: new Map(),
    asideOwnFiles: false,
  };
}

/**
 * After an exit: the run's outcome, or undefined to restart (after the backoff, which a stop
 * ends early).
 */
export async function decideAfterExit(
  run: RunContext,
  memory: RestartMemory,
  exit: ProgramExit,
): Promise<RunOutcome | undefined> {
  const { options, log, store } = run;
  const describe = describeExit(exit);
  if (exit.startError) {
    return {
      kind: 'cannot-start',
      exit,
      restarts: memory.restarts,
      message: outcomeMessage.cannotStart(run.command[0], exit.startError),
    };
  }
  if (exit.meaning === 'finished' || (exit.meaning === undefined && exit.code === 0)) {
    return { kind: 'finished', exit, restarts: memory.restarts, message: outcomeMessage.finished() };
  }
  if (run.stopRequested) return afterStop(run, memory, run.stopRequested, exit, describe);
  if (exit.meaning === 'stopped') {
    // Stopped by itself with a checkpoint (e.g. gmx -maxh): resumable, not a crash.
    return {
      kind: 'interrupted',
      exit,
      restarts: memory.restarts,
      message: outcomeMessage.stoppedWithCheckpoint(describe),
    };
  }
  if (await waitOutAllocationTrouble(run, describe)) {
    if (run.stopRequested) return afterStop(run, memory, run.stopRequested, exit, describe);
    return undefined;
  }
  const decision = decideRestart(memory, options);
  if (decision.action === 'give-up') {
    return {
      kind: 'failed',
      exit,
      restarts: memory.restarts,
      message: outcomeMessage.budgetUsedUp(describe, options.maxRestarts),
    };
  }
  const loopEnd = await checkRestartLoop(run, memory, exit);
  if (loopEnd) return loopEnd;
  const delay = decision.delayMs;
  memory.crashesWithoutProgress = decision.crashesWithoutProgress;
  memory.restarts = decision.restarts;
  log(
    `ckpt: the program crashed (${describe}); restart ${memory.restarts}/${options.maxRestarts} in ${delay / 1000}s`,
  );
  await appendJournal(store.root, 'restart', { attempt: memory.restarts, delayMs: delay, after: exit });
  run.state = 'backoff';
  await backoff(run, delay);
  if (run.stopRequested) return afterStop(run, memory, run.stopRequested, exit, 'before restarting');
  return undefined;
}

/** Waits `ms`, or less when a stop wakes the run (`run.wake`). */
async function backoff(run: RunContext, ms: number): Promise<void> {
  await new Promise<void>((r) => {
    const timer = setTimeout(r, ms);
    run.wake = () => {
      clearTimeout(timer);
      r();
    };
  });
  run.wake = () => {};
}

/** How often ckpt looks again while the allocation is in trouble. */
const TROUBLE_POLL_MS = 2000;
/** How long at most ckpt waits for the allocation before it counts the crash after all. */
const TROUBLE_MAX_WAIT_MS = 15 * 60 * 1000;

/**
 * A crash the allocation caused (a lost node): says so, and waits until the allocation is whole
 * again or the job is stopped (SLURM requeues it). True when there was trouble: the restart that
 * follows is not counted, and no checkpoint is blamed.
 */
async function waitOutAllocationTrouble(run: RunContext, describe: string): Promise<boolean> {
  let trouble = await run.hooks.allocationTrouble().catch(() => undefined);
  if (trouble === undefined) return false;
  run.log(
    `ckpt: the program ended (${describe}) because ${trouble}; not a crash of the program: waiting for the job's nodes, or for SLURM to requeue the job`,
  );
  await appendJournal(run.store.root, 'allocation-trouble', { why: trouble, pid: process.pid }).catch(
    () => {},
  );
  run.state = 'backoff';
  const until = Date.now() + TROUBLE_MAX_WAIT_MS;
  while (trouble !== undefined && !run.stopRequested) {
    if (Date.now() > until) {
      // SLURM ends a job on a lost node well before this: the probe itself must be failing.
      run.log(
        `ckpt: still ${trouble} after ${TROUBLE_MAX_WAIT_MS / 60_000} min; taking it as a crash of the program`,
      );
      return false;
    }
    await backoff(run, TROUBLE_POLL_MS);
    trouble = await run.hooks.allocationTrouble().catch(() => undefined);
  }
  if (!run.stopRequested) run.log("ckpt: the job's nodes answer again; starting the program again");
  return true;
}

/**
 * The restart loop: a program that fails twice in a row right after starting from the same state
 * gives that state up (docs/protocol.md). Returns an outcome when no state is left to try.
 */
async function checkRestartLoop(
  run: RunContext,
  memory: RestartMemory,
  exit: ProgramExit,
): Promise<RunOutcome | undefined> {
  const start = memory.segmentStart;
  const verdict = memory.loop.record(start, isQuickFailure(exit, start, Date.now(), memory.progressed), exit);
  if (verdict.action === 'none') return undefined;
  const { store, log } = run;
  if (verdict.action === 'set-aside-own-files') {
    memory.asideOwnFiles = true;
    log(
      'ckpt: the program failed twice right after starting on its own files; setting them aside for a fresh start',
    );
    await noteJournal(store, 'restart-loop', { action: verdict.action, pid: process.pid });
    return undefined;
  }
  memory.failing.set(verdict.seq, verdict.why);
  log(`ckpt: checkpoint #${verdict.seq} marked failing: ${verdict.why}; resuming from an older one`);
  await noteJournal(store, 'checkpoint-failing', { seq: verdict.seq, why: verdict.why, pid: process.pid });
  const { usable } = await store.candidates();
  if (usable.length > 0 && usable.every((m) => memory.failing.has(m.seq))) {
    return {
      kind: 'failed',
      exit,
      restarts: memory.restarts,
      message: outcomeMessage.everyCheckpointFailing(usable.map((m) => m.seq)),
    };
  }
  return undefined;
}

/** The outcome of a deliberate stop, after the hooks had their say (requeue…). */
async function afterStop(
  run: RunContext,
  memory: RestartMemory,
  reason: StopReason,
  exit: ProgramExit,
  describe: string,
): Promise<RunOutcome> {
  const base = { exit, restarts: memory.restarts };
  if (reason.kind === 'fenced') {
    return {
      kind: 'fenced',
      ...base,
      message: outcomeMessage.fenced(reason.detail),
    };
  }
  const after = await run.hooks.afterStop(reason, exit);
  if (after?.requeued) return { kind: 'requeued', ...base, message: after.message };
  return {
    kind: 'interrupted',
    ...base,
    message: outcomeMessage.interrupted(reason, describe, after?.message),
  };
}
