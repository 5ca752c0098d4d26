/**
 * The one reader of the environment SLURM gives a job (`SLURM_JOB_ID`, `SLURM_ARRAY_*`,
 * `SLURM_RESTART_COUNT`). It lives in the store, the lowest layer that needs it: manifests, the
 * lease and the journal record the writer's SLURM job. The slurm layer builds on it (`SlurmJob`).
 */

/** The SLURM job a process runs in, as its environment says. */
export interface SlurmEnv {
  /** `SLURM_JOB_ID`, or the older name `SLURM_JOBID` that SLURM still sets beside it. */
  jobId: string;
  /** `SLURM_ARRAY_JOB_ID`: the array's job id, for a task of a job array. */
  arrayJobId: string | undefined;
  /** `SLURM_ARRAY_TASK_ID`: the task's index in its job array. */
  arrayTaskId: string | undefined;
  /**
   * `SLURM_RESTART_COUNT`: 0 when unset (SLURM sets it only after the first requeue), then 1, 2…
   * Undefined when it is set but not a count: SLURM never sets such a value, so how often the job
   * was requeued is unknown, and nothing that depends on it may guess.
   */
  restartCount: number | undefined;
}

/** Reads the SLURM job from an environment; undefined outside SLURM. An empty variable counts as unset. */
export function parseSlurmEnv(env: NodeJS.ProcessEnv = process.env): SlurmEnv | undefined {
  const jobId = env.SLURM_JOB_ID || env.SLURM_JOBID;
  if (!jobId) return undefined;
  return {
    jobId,
    arrayJobId: env.SLURM_ARRAY_JOB_ID || undefined,
    arrayTaskId: env.SLURM_ARRAY_TASK_ID || undefined,
    restartCount: parseRestartCount(env.SLURM_RESTART_COUNT),
  };
}

/** `SLURM_RESTART_COUNT`: unset or empty is 0 (the first run), a decimal count is itself, else undefined. */
export function parseRestartCount(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return 0;
  if (!/^\d+$/.test(value)) return undefined;
  const count = Number(value);
  return Number.isSafeInteger(count) ? count : undefined;
}
