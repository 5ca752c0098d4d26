/** What a SIGTERM from SLURM meant, read from the job's record at that moment. */
export type Interruption = 'time-limit' | 'requeued' | 'cancelled' | 'node-failure' | 'unknown';

/** How `ckpt run` says each {@link Interruption} in its messages. */
export const INTERRUPTION_TEXT: Record<Interruption, string> = {
  'time-limit': 'time limit reached',
  requeued: 'preempted or requeued by SLURM',
  cancelled: 'cancelled by the user',
  'node-failure': 'node failure (the previous run ended without a trace)',
  unknown: 'terminated for an unknown reason',
};

/**
 * Classifies the end of a job segment from `scontrol show job` fields, measured on SLURM 22.05
 * (docs/slurm.md): a time limit shows `Reason=TimeLimit`; a requeue or preemption has already
 * raised `Restarts` above this run's count (and `EndTime=Unknown`); a user's `scancel` leaves
 * both unchanged with the job COMPLETING or CANCELLED. `myRestartCount` is this run's
 * `SLURM_RESTART_COUNT` (undefined when that is not a count).
 */
export function classifyTermination(
  fields: Record<string, string> | undefined,
  myRestartCount: number | undefined,
): Interruption {
  if (!fields) return 'unknown';
  if (fields.Reason === 'TimeLimit' || fields.JobState === 'TIMEOUT') return 'time-limit';
  if (
    fields.JobState === 'PREEMPTED' ||
    fields.JobState === 'REQUEUED' ||
    fields.JobState === 'REQUEUE_FED'
  ) {
    return 'requeued';
  }
  // An unknown restart count of this run (SLURM_RESTART_COUNT not a count) proves no requeue.
  const raised = myRestartCount !== undefined && Number(fields.Restarts ?? '0') > myRestartCount;
  if (raised || fields.EndTime === 'Unknown') return 'requeued';
  if (fields.JobState === 'COMPLETING' || fields.JobState === 'CANCELLED') return 'cancelled';
  return 'unknown';
}
