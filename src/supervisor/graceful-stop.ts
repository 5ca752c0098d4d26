import { appendJournal } from '../store/index.js';
import type { StopReason } from './hooks.js';
import { describeStop } from './outcome.js';
import { signalGroup } from './process-group.js';
import { requestCheckpoint } from './request-checkpoint.js';
import { newestSeq, type RunContext } from './run-context.js';
import { COMMIT_SETTLE_MS, STOP_POLL_MS, sleep, terminateGroup } from './stop-ladder.js';

/**
 * Records why the program must stop and starts the graceful stop, once: a second stop signal
 * kills the program's group at once. Ends a backoff wait.
 */
export function requestStop(run: RunContext, reason: StopReason): void {
  if (run.stopRequested) {
    if (reason.kind === 'signal' && run.pgid !== undefined) signalGroup(run.pgid, 'SIGKILL');
    return;
  }
  run.stopRequested = reason;
  run.wake();
  void gracefulStop(run, reason);
}

/**
 * The graceful stop (docs/protocol.md, "Signals"): ask the program for a checkpoint, wait up to the grace
 * period, then climb the {@link terminateGroup} ladder. A fenced copy is terminated at once.
 * Does nothing while a stop is under way or no program runs.
 */
export async function gracefulStop(run: RunContext, reason: StopReason): Promise<void> {
  if (run.state === 'stopping' || run.pgid === undefined) return;
  run.state = 'stopping';
  run.stopDeadline = Date.now() + graceFor(run, reason);
  const pgid = run.pgid;
  // The pid tells this supervisor's events from a stale copy's (fenced after a node failure).
  await appendJournal(run.store.root, 'stop', { reason, pid: process.pid });
  if (reason.kind === 'fenced') {
    run.log(`ckpt: ${reason.detail} Stopping this stale copy of the job.`);
    await terminateGroup(pgid, 'SIGTERM', run.options.killGrace);
    return;
  }
  run.log(
    `ckpt: ${describeStop(reason)}; asking the program to checkpoint (grace ${graceFor(run, reason) / 1000}s)`,
  );
  // Read before asking: a program that commits at once must not be mistaken for one that did not.
  const before = await newestSeq(run.store);
  const stop = run.app.stop;
  if (stop.kind === 'app') {
    // The app has its own way to write a checkpoint and stop: use it, then wait for the exit.
    await stop.request({ pgid, cwd: run.cwd });
    await waitForExit(run, pgid, graceFor(run, reason));
    // No second polite signal: some apps (GROMACS) answer it with a worse checkpoint.
    if (run.pgid === pgid) await terminateGroup(pgid, 'SIGKILL', run.options.killGrace);
    return;
  }
  const handled = await requestCheckpoint(run, 'stop');
  // A program that does not handle the checkpoint signal cannot answer it: no point waiting.
  const grace = handled > 0 ? graceFor(run, reason) : 0;
  if (handled === 0) run.log(`ckpt: the program does not handle ${run.options.signal}; stopping it now`);
  await waitForExit(run, pgid, grace, before);
  if (run.pgid === pgid) await terminateGroup(pgid, 'SIGTERM', run.options.killGrace);
}

/** How long a stop for `reason` may wait for the checkpoint: the hooks' say on `--grace`. */
function graceFor(run: RunContext, reason: StopReason): number {
  return run.hooks.graceMs(reason, run.options.grace);
}

/**
 * Waits up to `graceMs` for the program (group `pgid`) to exit; with `committedAfter`, also until
 * the store holds a checkpoint newer than that, and then a little more for the committer to finish
 * (journal line, exit) before the stop signal arrives.
 */
async function waitForExit(
  run: RunContext,
  pgid: number,
  graceMs: number,
  committedAfter?: number,
): Promise<void> {
  const until = Date.now() + graceMs;
  while (Date.now() < until && run.pgid === pgid) {
    if (committedAfter !== undefined && (await newestSeq(run.store)) > committedAfter) {
      await sleep(COMMIT_SETTLE_MS);
      break;
    }
    await sleep(STOP_POLL_MS);
  }
}
