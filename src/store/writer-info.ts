import { hostname } from 'node:os';
import type { SlurmInfo, WriterInfo } from './manifest.js';

/** The SLURM job this process runs in, from the environment SLURM sets, if any. */
export function slurmFromEnv(env: NodeJS.ProcessEnv = process.env): SlurmInfo | undefined {
  const jobId = env.SLURM_JOB_ID;
  if (!jobId) return undefined;
  const info: SlurmInfo = { jobId };
  if (env.SLURM_ARRAY_JOB_ID) info.arrayJobId = env.SLURM_ARRAY_JOB_ID;
  if (env.SLURM_ARRAY_TASK_ID) info.arrayTaskId = env.SLURM_ARRAY_TASK_ID;
  const restarts = Number(env.SLURM_RESTART_COUNT);
  if (env.SLURM_RESTART_COUNT && Number.isSafeInteger(restarts)) info.restartCount = restarts;
  return info;
}

/** Host, pid and SLURM job of this process, as recorded in manifests, leases and the journal. */
export function currentWriter(): WriterInfo {
  const slurm = slurmFromEnv();
  return { host: hostname(), pid: process.pid, ...(slurm ? { slurm } : {}) };
}

/** `pid 4123 on node07 (SLURM job 88123)` */
export function describeWriter(writer: WriterInfo): string {
  const job = writer.slurm ? ` (SLURM job ${writer.slurm.jobId})` : '';
  return `pid ${writer.pid} on ${writer.host}${job}`;
}
