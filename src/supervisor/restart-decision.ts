/** The restart options that decide whether and when to restart after a crash. */
export interface RestartPolicy {
  /** The first backoff delay (ms), doubled per crash without progress. */
  backoff: number;
  /** The longest backoff delay (ms). */
  maxBackoff: number;
  /** How many restarts a run may make (--max-restarts). */
  maxRestarts: number;
}

/** The restart counters before the decision. */
export interface RestartCounters {
  restarts: number;
  /** Crashes since the program last committed a new checkpoint: the backoff's exponent. */
  crashesWithoutProgress: number;
  /** Whether the segment that just crashed committed a checkpoint. */
  progressed: boolean;
}

/** Give up (the budget is used up), or restart after `delayMs` with the new counters. */
export type RestartDecision =
  | { action: 'give-up' }
  | { action: 'restart'; delayMs: number; restarts: number; crashesWithoutProgress: number };

/**
 * Decides what follows a crash. Pure. A program that committed a checkpoint since its last crash
 * is not crash-looping: its backoff starts afresh.
 */
export function decideRestart(counters: RestartCounters, policy: RestartPolicy): RestartDecision {
  if (counters.restarts >= policy.maxRestarts) return { action: 'give-up' };
  const exponent = counters.progressed ? 0 : counters.crashesWithoutProgress;
  return {
    action: 'restart',
    delayMs: Math.min(policy.backoff * 2 ** exponent, policy.maxBackoff),
    restarts: counters.restarts + 1,
    crashesWithoutProgress: exponent + 1,
  };
}
