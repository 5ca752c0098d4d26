import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import {
  chooseLeadSeconds,
  listJobs,
  maxArraySize,
  parseSlurmTime,
  type QueuedJob,
  submitBatch,
} from '../slurm/index.js';
import {
  appendJournal,
  DIR_MODE,
  type JournalEvent,
  journalEventsOf,
  type Lease,
  Store,
} from '../store/index.js';
import { type FlowLayout, resultStorePath } from './flow-layout.js';
import { commitRecord, readRecords, type StoredRecord, type TaskRecord } from './records.js';
import type { AttemptSpec } from './run-task.js';
import {
  type BatchOptions,
  SUBMISSION_VERSION,
  type Submission,
  submissionComment,
  writeSubmission,
} from './slurm-job.js';
import type { FlowStep } from './workflow.js';

/** Job states after which nothing of a job runs any more (until a requeue, which SLURM reports as PENDING). */
export const FINAL_JOB_STATES = [
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'REVOKED',
];
/** States in which a job's task has not started yet. */
const QUEUED_STATES = ['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'SPECIAL_EXIT', 'CONFIGURING'];

/** One SLURM attempt of a task: task `index` of submission `nonce`. */
export interface SlurmAttempt {
  attemptId: string;
  nonce: string;
  task: string;
  key: string;
  attempt: number;
  /** `JOBID` or `ARRAYJOBID_INDEX` once sbatch answered (or the job was found by its comment). */
  job: string | undefined;
  /** The submission's size: an array when above 1. */
  of: number;
  index: number;
}

/** How a SLURM attempt ended, as the head learns it. */
export type AttemptEnd =
  | { kind: 'record'; record: TaskRecord; seq: number }
  | {
      /** Ended without a record: `state` is SLURM's, or `UNKNOWN` when SLURM forgot the job. */
      kind: 'no-record';
      state: string;
      reason: string;
    }
  | { kind: 'not-submitted' };

/** What {@link SlurmExecutor} needs from the head. */
export interface SlurmExecutorOptions {
  layout: FlowLayout;
  store: Store;
  lease: Lease;
  run: string;
  ckpt: string[];
  /** How often SLURM is asked about the jobs (one squeue for all); result stores are read every poll. */
  queryEveryMs: number;
  warn: (message: string) => void;
}

/**
 * The SLURM side of a head: submits tasks (a fan-out as one job array), journals every
 * submission before sbatch, copies the records the jobs commit into the flow's store, and learns
 * from one `squeue` per poll which jobs ended without a record. A restarted head rebuilds its
 * attempts from the journal ({@link SlurmExecutor.restore}) and re-attaches to them: a job still
 * queued or running is never submitted again.
 */
export class SlurmExecutor {
  /** Attempts not ended yet, by attempt id. */
  private readonly live = new Map<string, SlurmAttempt>();
  private lastQuery = 0;
  private queryFailing = false;
  private arraySize: number | undefined;

  constructor(private readonly o: SlurmExecutorOptions) {}

  /** The most tasks one submission may carry: array indices 0 to MaxArraySize - 1. */
  async arrayLimit(): Promise<number> {
    this.arraySize ??= Math.max(1, await maxArraySize());
    return this.arraySize;
  }

  /** Attempts not ended yet. */
  attempts(): SlurmAttempt[] {
    return [...this.live.values()];
  }

  /**
   * Rebuilds the attempts of earlier heads from the journal: every submitted task whose record is
   * not in the flow's store and whose end was not journaled. Their records (committed while no
   * head watched) are copied in by the first {@link poll}.
   */
  restore(events: readonly JournalEvent[], records: readonly StoredRecord[]): void {
    for (const a of outstandingAttempts(events, records)) this.live.set(a.attemptId, a);
  }

  /**
   * Submits the attempts of one step's tasks: one job, or one array of `specs.length` tasks. The
   * submission is journaled before sbatch runs, and the job id after.
   */
  async submit(step: FlowStep, specs: AttemptSpec[]): Promise<SlurmAttempt[]> {
    const nonce = randomBytes(8).toString('hex');
    const submission: Submission = {
      version: SUBMISSION_VERSION,
      nonce,
      flowDir: this.o.layout.root,
      tasks: specs.map((spec, index) => ({ ...spec, attemptId: `${nonce}.${index}` })),
    };
    const time = step.slurm.time;
    const options: BatchOptions = {
      ckpt: this.o.ckpt,
      slurm: step.slurm,
      jobName: `ckf-${step.name}`.slice(0, 64),
      ...(step.checkpoint
        ? {
            warning: {
              signal: 'USR2',
              leadSeconds: chooseLeadSeconds(
                time === undefined ? undefined : parseSlurmTime(time),
                undefined,
              ),
            },
          }
        : {}),
    };
    const script = await writeSubmission(submission, options);
    await fsp.mkdir(this.o.layout.results, { recursive: true, mode: DIR_MODE });
    await appendJournal(this.o.store.root, 'flow-submit', {
      run: this.o.run,
      nonce,
      step: step.name,
      tasks: specs.map((s) => ({ task: s.task, key: s.key, attempt: s.attempt })),
    });
    let jobId: string;
    try {
      jobId = await submitBatch(script, []);
    } catch (error) {
      // Refused: no job exists, and a later head must not look for one.
      for (const [index, spec] of specs.entries()) {
        await appendJournal(this.o.store.root, 'flow-task-end', {
          run: this.o.run,
          task: spec.task,
          attempt: spec.attempt,
          outcome: 'not-submitted',
          attemptId: `${nonce}.${index}`,
          error: (error as Error).message,
        }).catch(() => {});
      }
      throw error;
    }
    await appendJournal(this.o.store.root, 'flow-submitted', { run: this.o.run, nonce, jobId });
    const attempts = specs.map(
      (spec, index): SlurmAttempt => ({
        attemptId: `${nonce}.${index}`,
        nonce,
        task: spec.task,
        key: spec.key,
        attempt: spec.attempt,
        job: jobRef(jobId, specs.length, index),
        of: specs.length,
        index,
      }),
    );
    for (const a of attempts) this.live.set(a.attemptId, a);
    return attempts;
  }

  /**
   * Looks at every live attempt once: a record in its result store is copied into the flow's
   * store (then the result store is removed) and ends it; otherwise, at most every `queryEveryMs`,
   * one squeue tells which jobs ended without a record. A squeue that fails proves nothing: the
   * attempts stay live and SLURM is asked again at the next poll.
   */
  async poll(force = false): Promise<{ attempt: SlurmAttempt; end: AttemptEnd }[]> {
    const ended: { attempt: SlurmAttempt; end: AttemptEnd }[] = [];
    for (const attempt of [...this.live.values()]) {
      const end = await this.adopt(attempt);
      if (end) ended.push({ attempt, end });
    }
    if (this.live.size === 0 || (!force && Date.now() - this.lastQuery < this.o.queryEveryMs)) return ended;
    this.lastQuery = Date.now();
    let jobs: QueuedJob[];
    try {
      jobs = await listJobs();
      this.queryFailing = false;
    } catch (error) {
      if (!this.queryFailing) {
        this.o.warn(`squeue failed (${(error as Error).message.split('\n')[0]}); asking SLURM again later`);
      }
      this.queryFailing = true;
      return ended;
    }
    const byId = new Map(jobs.map((j) => [j.id, j]));
    for (const attempt of [...this.live.values()]) {
      if (attempt.job === undefined) {
        // Journaled but the head died before sbatch answered: find the job by its comment.
        const comment = submissionComment(attempt.nonce);
        const found = jobs.find((j) => j.comment === comment);
        if (!found) {
          this.live.delete(attempt.attemptId);
          ended.push({ attempt, end: { kind: 'not-submitted' } });
          continue;
        }
        const jobId = found.id.split('_')[0]!;
        attempt.job = jobRef(jobId, attempt.of, attempt.index);
        await appendJournal(this.o.store.root, 'flow-submitted', {
          run: this.o.run,
          nonce: attempt.nonce,
          jobId,
        }).catch(() => {});
      }
      const job = byId.get(attempt.job!) ?? byId.get(`${attempt.job!.split('_')[0]}_[${attempt.index}]`);
      if (job && !FINAL_JOB_STATES.includes(job.state)) continue;
      // Ended: its record, if any, was committed before the job ended.
      const end = (await this.adopt(attempt)) ?? {
        kind: 'no-record' as const,
        state: job?.state ?? 'UNKNOWN',
        reason: job?.reason ?? 'SLURM no longer knows the job',
      };
      this.live.delete(attempt.attemptId);
      ended.push({ attempt, end });
    }
    return ended;
  }

  /** The queue state of each live attempt's job from one squeue, for `ckpt flow status`. */
  static async states(attempts: readonly SlurmAttempt[]): Promise<Map<string, 'queued' | 'running'>> {
    const out = new Map<string, 'queued' | 'running'>();
    if (attempts.length === 0) return out;
    const jobs = new Map((await listJobs().catch(() => [])).map((j) => [j.id, j.state]));
    for (const a of attempts) {
      const state = a.job ? jobs.get(a.job) : undefined;
      if (state && !FINAL_JOB_STATES.includes(state)) {
        out.set(a.attemptId, QUEUED_STATES.includes(state) ? 'queued' : 'running');
      }
    }
    return out;
  }

  /** Copies the attempt's record into the flow's store, if its job committed one; ends the attempt. */
  private async adopt(attempt: SlurmAttempt): Promise<AttemptEnd | undefined> {
    const found = await resultRecord(this.o.layout, attempt);
    if (!found) return undefined;
    const seq = await commitRecord(this.o.store, this.o.lease, found.record);
    this.live.delete(attempt.attemptId);
    await fsp.rm(resultStorePath(this.o.layout, attempt.attemptId), { recursive: true, force: true });
    return { kind: 'record', record: found.record, seq };
  }
}

/**
 * The SLURM attempts the journal shows submitted whose records are not among `records` and whose
 * end was not journaled: those a head must wait for (or whose records wait in their result stores).
 */
export function outstandingAttempts(
  events: readonly JournalEvent[],
  records: readonly StoredRecord[],
): SlurmAttempt[] {
  const adopted = new Set(records.map((r) => r.record.nonce));
  const ended = new Set(
    journalEventsOf(events, 'flow-task-end').flatMap((e) => (e.attemptId ? [e.attemptId] : [])),
  );
  const jobIds = new Map(journalEventsOf(events, 'flow-submitted').map((e) => [e.nonce, e.jobId]));
  const out: SlurmAttempt[] = [];
  for (const submit of journalEventsOf(events, 'flow-submit')) {
    submit.tasks.forEach((t, index) => {
      const attemptId = `${submit.nonce}.${index}`;
      if (adopted.has(attemptId) || ended.has(attemptId)) return;
      out.push({
        attemptId,
        nonce: submit.nonce,
        task: t.task,
        key: t.key,
        attempt: t.attempt,
        job: jobRef(jobIds.get(submit.nonce), submit.tasks.length, index),
        of: submit.tasks.length,
        index,
      });
    });
  }
  return out;
}

/** The record an attempt's job committed into its result store, if it did (read-only). */
export async function resultRecord(
  layout: FlowLayout,
  attempt: SlurmAttempt,
): Promise<StoredRecord | undefined> {
  const store = await Store.open(resultStorePath(layout, attempt.attemptId)).catch(() => undefined);
  if (!store) return undefined;
  return (await readRecords(store)).records.find(
    (r) => r.record.nonce === attempt.attemptId && r.record.task === attempt.task,
  );
}

/** The job of task `index` of a submission of `of` tasks: `J` for one task, `J_index` in an array. */
function jobRef(jobId: string | undefined, of: number, index: number): string | undefined {
  if (jobId === undefined) return undefined;
  return of > 1 ? `${jobId}_${index}` : jobId;
}

/** Whether `task`'s attempt ended in a way that resubmitting resumes, without counting a retry. */
export function resumableEnd(end: AttemptEnd, step: FlowStep): boolean {
  if (end.kind === 'not-submitted') return true;
  if (end.kind !== 'no-record') return false;
  if (['NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL'].includes(end.state)) return true;
  return end.state === 'TIMEOUT' && step.checkpoint !== undefined;
}

/** Why an attempt that left no record failed, in words. */
export function noRecordError(
  end: Extract<AttemptEnd, { kind: 'no-record' }>,
  job: string | undefined,
): string {
  const j = `job ${job ?? '?'}`;
  switch (end.state) {
    case 'CANCELLED':
      return `cancelled with scancel (${j})`;
    case 'TIMEOUT':
      return `it reached its time limit (${j}); raise \`slurm: { time: … }\` or add \`checkpoint:\` to resume it`;
    case 'OUT_OF_MEMORY':
      return `it ran out of memory (${j}); raise \`slurm: { mem: … }\``;
    case 'UNKNOWN':
      return `SLURM no longer knows ${j}, and it left no record`;
    default:
      return `${j} ended ${end.state} (${end.reason}) without a record`;
  }
}
