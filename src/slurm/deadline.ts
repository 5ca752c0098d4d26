import { type JournalEvent, knownJournalEvents } from '../store/index.js';

/** slurmctld checks time limits every 30 s: a warning or kill can come that much early or late. */
export const SLURM_JITTER_MS = 30_000;
/** Extra safety on top of the measured checkpoint time. */
export const DEADLINE_MARGIN_MS = 10_000;
/** Checkpoint time assumed before any was measured. */
export const DEFAULT_CHECKPOINT_MS = 30_000;

/**
 * How long before the end of the job the final checkpoint must start: the measured checkpoint
 * duration (the slowest of the recent commits, or a default) + SLURM's 30 s jitter + a margin
 * (10 s or 10 % of the checkpoint time, whichever is more).
 */
export function leadTimeMs(measuredCheckpointMs: number | undefined): number {
  const checkpoint = measuredCheckpointMs ?? DEFAULT_CHECKPOINT_MS;
  return Math.ceil(checkpoint + SLURM_JITTER_MS + Math.max(DEADLINE_MARGIN_MS, checkpoint * 0.1));
}

/**
 * The time a checkpoint takes here, from the journal: the slowest of the last five commits,
 * counting the stop → commit delay when a stop asked for one. Undefined before any commit.
 * Unknown and malformed events are skipped.
 */
export function measuredCheckpointMs(events: readonly JournalEvent[]): number | undefined {
  const durations: number[] = [];
  let askedAt: number | undefined;
  for (const e of knownJournalEvents(events)) {
    if (e.type === 'stop' || e.type === 'checkpoint-requested') askedAt ??= Date.parse(e.time);
    if (e.type === 'commit') {
      const own = e.durationMs;
      const sinceAsked = askedAt === undefined ? 0 : Date.parse(e.time) - askedAt;
      durations.push(Math.max(own, sinceAsked));
      askedAt = undefined;
    }
  }
  const recent = durations.slice(-5);
  return recent.length > 0 ? Math.max(...recent) : undefined;
}
