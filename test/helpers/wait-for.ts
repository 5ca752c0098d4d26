/**
 * Waiting in tests: {@link waitFor} polls a condition with a deadline, {@link sleep} just waits.
 * Every test waits through these two.
 */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How {@link waitFor} polls. */
export interface WaitOptions {
  /** Give up after this long (default {@link DEFAULT_WAIT_MS}). */
  timeoutMs?: number;
  /** Poll this often (default {@link DEFAULT_POLL_MS}). */
  everyMs?: number;
  /** What a timeout should show besides `what` (a job's output, a log tail). */
  explain?: () => string;
}

export const DEFAULT_WAIT_MS = 15_000;
export const DEFAULT_POLL_MS = 20;

/**
 * Polls `check` until it returns a value other than undefined/false and resolves with it.
 * Throws `timed out after N ms waiting for WHAT` (and `explain()`) when the deadline passes.
 */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) {
      const detail = options.explain ? `\n${options.explain()}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(options.everyMs ?? DEFAULT_POLL_MS);
  }
}
