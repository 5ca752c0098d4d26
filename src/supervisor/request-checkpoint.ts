import { appendJournal } from '../store/index.js';
import { requestFromHandlers } from './process-group.js';
import type { RunContext } from './run-context.js';

/**
 * Asks the program for a checkpoint now (on the `--every` schedule, or at a stop) with the app's
 * checkpoint signal; returns how many of its processes handle it. Warns once when a scheduled
 * request reaches no handler.
 */
export async function requestCheckpoint(run: RunContext, reason: 'interval' | 'stop'): Promise<number> {
  if (run.pgid === undefined) return 0;
  const signal = run.app.checkpointSignal;
  if (signal === false) return 0; // the app checkpoints on its own schedule
  let sent = await requestFromHandlers(run.pgid, signal);
  // Processes outside the group (srun's tasks) are reached through the scheduler.
  if (run.hooks.deliver(signal)) sent++;
  if (sent === 0 && reason === 'interval') {
    await run.warnOnce(
      'NO_HANDLER',
      `--every asks for checkpoints with ${signal}, but no process of the program handles it: nothing is checkpointed on that schedule. Handle ${signal} in the program (docs/protocol.md), or let --capture pick up the files it writes on its own.`,
    );
  }
  await appendJournal(run.store.root, 'checkpoint-requested', { reason, signal, handledBy: sent });
  return sent;
}
