import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';
import { parseSlurmEnv, type SlurmEnv } from '../store/index.js';

const run = promisify(execFile);
/** scontrol/scancel calls give up after this long (a busy slurmctld can be slow). */
export const SLURM_COMMAND_TIMEOUT_MS = 15_000;

/**
 * The SLURM job this process runs in: the environment as the store reads it
 * ({@link parseSlurmEnv}, the one parser of SLURM_* variables), and the target of a requeue.
 */
export interface SlurmJob extends SlurmEnv {
  /** What `scontrol requeue` needs: `ARRAYJOB_TASK` for an array task, else the job id. */
  requeueTarget: string;
}

/** Detects a SLURM job from the environment, or undefined outside SLURM. */
export function slurmJobFromEnv(env: NodeJS.ProcessEnv = process.env): SlurmJob | undefined {
  const job = parseSlurmEnv(env);
  if (!job) return undefined;
  const { jobId, arrayJobId, arrayTaskId } = job;
  return { ...job, requeueTarget: arrayJobId && arrayTaskId ? `${arrayJobId}_${arrayTaskId}` : jobId };
}

const JOB_PATTERN = /%([Aaj])/g;
/** Per pattern letter: the variable it needs (named in errors), and its value in a job. */
const PATTERN_VALUES = {
  A: ['SLURM_ARRAY_JOB_ID', (job: SlurmEnv) => job.arrayJobId ?? job.jobId],
  a: ['SLURM_ARRAY_TASK_ID', (job: SlurmEnv) => job.arrayTaskId],
  j: ['SLURM_JOB_ID', (job: SlurmEnv) => job.jobId],
} as const;

/** Whether a path uses SLURM's `%A`, `%a` or `%j` (expanded at run time by {@link expandJobPattern}). */
export function hasJobPattern(path: string): boolean {
  return /%[Aaj]/.test(path);
}

/**
 * Expands SLURM's filename patterns in a path (a store directory) from the job's environment, as
 * sbatch does for `--output`: `%A` the array's job id (the job id outside an array), `%a` the
 * array task id, `%j` this job's id. Every task of a job array thus gets its own store. Throws
 * {@link UsageError} when the variable a pattern needs is not set (e.g. `%a` outside an array).
 */
export function expandJobPattern(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const job = parseSlurmEnv(env);
  return path.replace(JOB_PATTERN, (pattern, letter: keyof typeof PATTERN_VALUES) => {
    const [name, read] = PATTERN_VALUES[letter];
    const value = job && read(job);
    if (value === undefined) {
      throw new UsageError(
        `The store path \`${path}\` uses ${pattern}, but ${name} is not set: ${pattern} is expanded only inside a SLURM job${letter === 'a' ? ' array' : ''}.`,
        { hint: 'Give a store path without %A/%a/%j here, e.g. the expanded path of the task you mean.' },
      );
    }
    return value;
  });
}

/** `scontrol show job -o ID`, parsed into its `Key=Value` fields; undefined if SLURM no longer knows it. */
export async function showJob(id: string): Promise<Record<string, string> | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await run('scontrol', ['show', 'job', '-o', id], { timeout: SLURM_COMMAND_TIMEOUT_MS }));
  } catch (error) {
    const text = `${(error as { stderr?: string }).stderr ?? ''}${(error as Error).message}`;
    if (/Invalid job id/i.test(text)) return undefined;
    throw error;
  }
  return parseJobRecord(stdout.split('\n')[0] ?? '');
}

/** Parses one `scontrol show job -o` line. Values never contain spaces except `Command=`… at the end. */
export function parseJobRecord(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of line.matchAll(/(?:^|\s)([A-Za-z][\w:/]*)=(\S*)/g)) fields[match[1]!] = match[2]!;
  return fields;
}

/** The job's end time (ms since the epoch), or undefined when unlimited or unknown. */
export function endTimeOf(fields: Record<string, string>): number | undefined {
  const end = fields.EndTime;
  if (!end || end === 'Unknown' || fields.TimeLimit === 'UNLIMITED') return undefined;
  const ms = Date.parse(end); // SLURM prints local time without a zone; Date.parse reads it as local.
  return Number.isFinite(ms) ? ms : undefined;
}

/** Runs `scontrol requeue TARGET`; says whether SLURM accepted it and what it said. */
export async function requeueJob(target: string): Promise<{ ok: boolean; message: string }> {
  try {
    await run('scontrol', ['requeue', target], { timeout: SLURM_COMMAND_TIMEOUT_MS });
    return { ok: true, message: `requeued job ${target}` };
  } catch (error) {
    const stderr = ((error as { stderr?: string }).stderr ?? '').trim();
    return { ok: false, message: stderr || (error as Error).message };
  }
}

/** Sends a signal to the job's step tasks only (`scancel --signal`), e.g. programs under srun. */
export async function signalSteps(jobId: string, signal: NodeJS.Signals): Promise<void> {
  await run('scancel', [`--signal=${signal.replace(/^SIG/, '')}`, jobId], {
    timeout: SLURM_COMMAND_TIMEOUT_MS,
  }).catch(() => {});
}

/** A number from `scontrol show config` (`Name = 42`), or undefined when it cannot be read. */
async function configNumber(name: string): Promise<number | undefined> {
  try {
    const { stdout } = await run('scontrol', ['show', 'config'], { timeout: SLURM_COMMAND_TIMEOUT_MS });
    const match = new RegExp(`^${name}\\s*=\\s*(\\d+)`, 'm').exec(stdout);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** SLURM's KillWait in ms (`scontrol show config`), or 30 s (SLURM's default) if it cannot be read. */
export async function killWaitMs(): Promise<number> {
  return ((await configNumber('KillWait')) ?? 30) * 1000;
}

/**
 * SLURM's MaxArraySize (array indices must be below it), or 1001 (SLURM's default) if it cannot
 * be read.
 */
export async function maxArraySize(): Promise<number> {
  return (await configNumber('MaxArraySize')) ?? 1001;
}

/** One line of {@link listJobs}: a job, or one task of an array (`A_i`). */
export interface QueuedJob {
  /** `JOBID`, or `ARRAYJOBID_TASKID` for an array task. */
  id: string;
  /** SLURM's state name: PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, REQUEUED… */
  state: string;
  reason: string;
  /** `--comment`, or undefined when the job has none. */
  comment: string | undefined;
}

/**
 * Every job of this user that slurmctld still knows (finished ones until MinJobAge passes), one
 * line per array task: one `squeue` call, however many jobs are watched. Throws when squeue
 * fails: a slow or unreachable slurmctld proves nothing about a job, so callers ask again later.
 */
export async function listJobs(): Promise<QueuedJob[]> {
  const { stdout } = await run('squeue', ['--me', '--states=all', '-r', '-h', '-o', '%i|%T|%r|%k'], {
    timeout: SLURM_COMMAND_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseJobList(stdout);
}

/** Parses `squeue -o '%i|%T|%r|%k'` output. */
export function parseJobList(stdout: string): QueuedJob[] {
  const jobs: QueuedJob[] = [];
  for (const line of stdout.split('\n')) {
    const [id, state, reason, ...comment] = line.trim().split('|');
    if (!id || !state) continue;
    const text = comment.join('|');
    jobs.push({
      id,
      state,
      reason: reason ?? '',
      comment: text === '' || text === '(null)' ? undefined : text,
    });
  }
  return jobs;
}
