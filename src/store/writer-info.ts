import { hostname } from 'node:os';
import type { SlurmInfo, WriterInfo } from './manifest.js';
import { parseSlurmEnv } from './slurm-env.js';

/**
 * The SLURM job this process runs in, as manifests, leases and the journal record it, if any.
 * `restartCount` is left out where SLURM leaves `SLURM_RESTART_COUNT` unset (the first run; a
 * reader takes the missing field as 0) and where the variable is not a count.
 */
export function slurmFromEnv(env: NodeJS.ProcessEnv = process.env): SlurmInfo | undefined {
  const job = parseSlurmEnv(env);
  if (!job) return undefined;
  const info: SlurmInfo = { jobId: job.jobId };
  if (job.arrayJobId) info.arrayJobId = job.arrayJobId;
  if (job.arrayTaskId) info.arrayTaskId = job.arrayTaskId;
  if (env.SLURM_RESTART_COUNT && job.restartCount !== undefined) info.restartCount = job.restartCount;
  if (env.SLURM_JOB_NODELIST) info.nodes = env.SLURM_JOB_NODELIST;
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
