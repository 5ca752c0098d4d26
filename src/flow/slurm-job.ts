import { promises as fsp, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { createSlurmHolderProbe, shellQuote, slurmJobFromEnv } from '../slurm/index.js';
import {
  acquireLease,
  DIR_MODE,
  journalEventsOf,
  readJournal,
  Store,
  writeFileAtomic,
} from '../store/index.js';
import { flowLayout, resultStorePath } from './flow-layout.js';
import { commitRecord, readRecords } from './records.js';
import { type AttemptSpec, attemptRecord, prepareOutputs, runCommand, WRAPPER_ABORTED } from './run-task.js';

/** The version of {@link Submission}. */
export const SUBMISSION_VERSION = 1;
/** How a `ckpt run` that will resume later ended its run (docs/protocol.md). */
const HANDED_BACK = ['requeued', 'interrupted', 'fenced'];

/**
 * Whether the `ckpt run` of a `checkpoint:` step, started at `since`, ended its run to resume
 * later: it checkpointed and requeued the job before its time limit, or was stopped. It then
 * exits 0 or 75 without the outputs, which is no failure. Its store's journal says so.
 */
async function handedBack(stepStore: string, since: string): Promise<boolean> {
  const events = await readJournal(stepStore).then(
    (j) => j.events,
    () => [],
  );
  const end = journalEventsOf(events, 'run-end').findLast((e) => e.time >= since);
  return end !== undefined && HANDED_BACK.includes(end.outcome);
}

/** One task of a submission: its attempt, and the id its record and result store carry. */
export interface SubmittedTask extends AttemptSpec {
  /** `NONCE.INDEX`: the record's nonce and the name of its result store. */
  attemptId: string;
}

/**
 * What one `sbatch` of a flow runs (`slurm/<nonce>.json`): the tasks of one step, task i as array
 * index i (a single task is a plain job). Written before sbatch and never changed.
 */
export interface Submission {
  version: number;
  nonce: string;
  flowDir: string;
  tasks: SubmittedTask[];
}

/** The comment a submission's job carries, by which a head finds it again. */
export function submissionComment(nonce: string): string {
  return `ckptflow:${nonce}`;
}

/** Where a submission's spec, batch script and the jobs' own output go. */
export function submissionPaths(
  flowDir: string,
  nonce: string,
): { spec: string; script: string; out: string } {
  const dir = flowLayout(flowDir).slurm;
  return {
    spec: join(dir, `${nonce}.json`),
    script: join(dir, `${nonce}.sh`),
    out: join(dir, `${nonce}.%a.out`),
  };
}

/** What a step's batch script needs besides its submission. */
export interface BatchOptions {
  /** The argv that runs this ckpt (absolute paths: the job runs the same ckpt). */
  ckpt: string[];
  /** The step's `slurm:` options (long names without `--`). */
  slurm: Record<string, string>;
  jobName: string;
  /** For a `checkpoint:` step: the warning `ckpt run` checkpoints on, and its lead in seconds. */
  warning?: { signal: string; leadSeconds: number };
}

/**
 * The batch script of a submission. The wrapper (`ckpt flow job`) is the batch shell itself
 * (`exec`), so SLURM's `B:` warning and SIGTERM reach it; `--requeue` makes a requeued job (a
 * preemption, a node failure, `ckpt run`'s own requeue before a time limit) run the same task
 * again under the same job id, and `--open-mode=append` keeps the output of every run.
 */
export function buildFlowBatchScript(submission: Submission, options: BatchOptions): string {
  const paths = submissionPaths(submission.flowDir, submission.nonce);
  const n = submission.tasks.length;
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${options.jobName}`,
    `#SBATCH --comment=${submissionComment(submission.nonce)}`,
    '#SBATCH --requeue',
    '#SBATCH --open-mode=append',
    `#SBATCH --output=${n > 1 ? paths.out : paths.out.replace('%a', '0')}`,
    ...(n > 1 ? [`#SBATCH --array=0-${n - 1}`] : []),
    ...(options.warning
      ? [`#SBATCH --signal=B:${options.warning.signal.replace(/^SIG/, '')}@${options.warning.leadSeconds}`]
      : []),
    ...Object.entries(options.slurm).map(([name, value]) =>
      value === 'true' ? `#SBATCH --${name}` : `#SBATCH --${name}=${value}`,
    ),
    '# Written by `ckpt flow run`: runs one task of the step (array index = task), which commits',
    '# its own record; the head that submitted it may be gone by then.',
    `exec ${[...options.ckpt, 'flow', 'job', '--submission', paths.spec].map(shellQuote).join(' ')}`,
    '',
  ];
  return lines.join('\n');
}

/** Writes a submission's spec and batch script (atomically; the directory is created). */
export async function writeSubmission(submission: Submission, options: BatchOptions): Promise<string> {
  const paths = submissionPaths(submission.flowDir, submission.nonce);
  await fsp.mkdir(flowLayout(submission.flowDir).slurm, { recursive: true, mode: DIR_MODE });
  await writeFileAtomic(paths.spec, Buffer.from(`${JSON.stringify(submission, null, 1)}\n`));
  await writeFileAtomic(paths.script, Buffer.from(buildFlowBatchScript(submission, options)));
  return paths.script;
}

function readSubmission(path: string): Submission {
  let value: Partial<Submission>;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as Partial<Submission>;
  } catch (error) {
    throw new UsageError(`Cannot read the flow submission ${path}: ${(error as Error).message}.`, {
      hint: 'It is written by `ckpt flow run`; a job whose flow directory was removed cannot run.',
      cause: error,
    });
  }
  if (
    value.version !== SUBMISSION_VERSION ||
    !Array.isArray(value.tasks) ||
    typeof value.flowDir !== 'string'
  ) {
    throw new UsageError(`${path} is not a flow submission of version ${SUBMISSION_VERSION}.`);
  }
  return value as Submission;
}

/**
 * The wrapper inside a SLURM job (`ckpt flow job`): picks its task by SLURM_ARRAY_TASK_ID, runs
 * it, and commits its record into the attempt's own result store, under that store's lease
 * (an older incarnation of the same job, left running by a node failure, is fenced off by it).
 * It needs no head: a head that died or was replaced copies the record later. Signals from SLURM
 * are passed on to the command; a run that SLURM or `ckpt run` interrupted (requeue, time limit
 * of a `checkpoint:` step, scancel) leaves no record, and the head reads the job's state instead.
 * A requeued job whose record already exists exits at once. Returns 0 with a record, else
 * {@link WRAPPER_ABORTED}.
 */
export async function runSlurmJob(
  submissionPath: string,
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
): Promise<number> {
  const submission = readSubmission(submissionPath);
  const index = submission.tasks.length > 1 ? Number(env.SLURM_ARRAY_TASK_ID) : 0;
  const spec = submission.tasks[index];
  if (!spec) {
    throw new UsageError(
      `Submission ${submissionPath} has no task ${env.SLURM_ARRAY_TASK_ID ?? '(SLURM_ARRAY_TASK_ID unset)'}.`,
    );
  }
  const store = await Store.open(resultStorePath(flowLayout(submission.flowDir), spec.attemptId), {
    create: true,
  });
  const lease = await acquireLease(store.root, createSlurmHolderProbe());
  const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
  let interrupted = false;
  let child: { kill(signal: NodeJS.Signals): boolean } | undefined;
  const handlers = forwarded.map((signal) => {
    const handler = () => {
      if (signal !== 'SIGUSR1' && signal !== 'SIGUSR2') interrupted = true;
      child?.kill(signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  try {
    if ((await readRecords(store)).records.length > 0) return 0;
    const startedAt = new Date().toISOString();
    await prepareOutputs(spec);
    const exit = await runCommand(spec, spec.attemptId, (c) => {
      child = c;
    });
    if (spec.checkpoint && (await handedBack(spec.checkpoint.store, startedAt))) return WRAPPER_ABORTED;
    const job = slurmJobFromEnv(env);
    const record = await attemptRecord(
      spec,
      { nonce: spec.attemptId, startedAt, exit },
      job ? { job: job.requeueTarget, restarts: job.restartCount ?? 0 } : {},
    );
    // Stopped by SLURM (a requeue, a cancel, a time limit) before it finished: no record.
    if (interrupted && !record.ok) return WRAPPER_ABORTED;
    const seq = await commitRecord(store, lease, record);
    out(JSON.stringify({ seq }));
    return 0;
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    await lease.release();
  }
}
