import { signalGroup, waitGroupGone } from './process-group.js';

/** How often a graceful stop looks whether the program has exited (or committed) yet. */
export const STOP_POLL_MS = 100;
/**
 * After the program committed during a graceful stop, how long ckpt waits before the stop signal,
 * so the committer can finish (journal line, exit).
 */
export const COMMIT_SETTLE_MS = 500;
/** After SIGKILL, how long ckpt waits for the process group to be gone before moving on. */
export const KILLED_GROUP_WAIT_MS = 2000;

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The last rung of a stop: sends `first` to the whole group, waits up to `killGraceMs`, then
 * SIGKILLs it and waits up to {@link KILLED_GROUP_WAIT_MS}. Does nothing if the group is gone.
 */
export async function terminateGroup(
  pgid: number,
  first: NodeJS.Signals,
  killGraceMs: number,
): Promise<void> {
  if (!signalGroup(pgid, first)) return;
  if (!(await waitGroupGone(pgid, killGraceMs))) signalGroup(pgid, 'SIGKILL');
  await waitGroupGone(pgid, KILLED_GROUP_WAIT_MS);
}
