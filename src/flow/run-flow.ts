import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { LockedError, UsageError } from '../errors.js';
import { createSlurmHolderProbe } from '../slurm/index.js';
import {
  acquireLease,
  appendJournal,
  DIR_MODE,
  type JournalPayload,
  type Lease,
  readJournal,
  Store,
} from '../store/index.js';
import { type AssessContext, assessTask, type TaskAssessment, upstreamStateOf } from './assess.js';
import type { FlowTask, TaskGraph } from './expand-tasks.js';
import { FileHasher } from './file-hash.js';
import { type FlowLayout, flowLayout, logPath, stepStorePath } from './flow-layout.js';
import { reapStaleTasks } from './markers.js';
import { readRecord, readRecords, recordsByTask, type StoredRecord, type TaskRecord } from './records.js';
import {
  DEFAULT_SLURM_QUERY_MS,
  LEASE_TOUCH_MS,
  type RunFlowOptions,
  type RunFlowResult,
} from './run-flow-api.js';
import type { AttemptSpec, TaskSpec } from './run-task.js';
import {
  type AttemptEnd,
  noRecordError,
  resumableEnd,
  type SlurmAttempt,
  SlurmExecutor,
} from './slurm-executor.js';
import type { UpstreamState } from './task-key.js';

type Outcome = 'done' | 'cached' | 'failed' | 'blocked';

/** How often a head with SLURM jobs reads their result stores. */
const RESULT_POLL_MS = 1000;
/** Resubmissions of one task after node failures, preemptions or time limits of a `checkpoint:` step. */
export const MAX_RESUBMITS = 20;

/**
 * Runs what the workflow needs, in dependency order: the head. It holds the flow store's lease
 * (a dead head's is taken over, also one in a SLURM job that was requeued), ends local tasks a
 * dead head left running, re-attaches to the SLURM jobs of earlier heads, and rebuilds its state
 * from the committed records, so a head killed at any moment loses no finished task and submits
 * no job twice. Local tasks run up to `jobs` at once, each attempt in a wrapper (`ckpt flow exec`)
 * that commits the task's record; `executor: slurm` steps are submitted, a fan-out as one job
 * array, and their jobs commit their own records ({@link SlurmExecutor}). A failed task is
 * retried `retries` times, and the tasks needing it are not run. With `allLocal`, every step runs
 * locally.
 */
export async function runFlow(graph: TaskGraph, options: RunFlowOptions): Promise<RunFlowResult> {
  const slurmSteps = [...graph.steps.values()].filter((s) => s.executor === 'slurm').map((s) => s.name);
  if (slurmSteps.length > 0 && !options.allLocal && !onPath('sbatch', options.env)) {
    throw new UsageError(
      `Steps ${slurmSteps.map((s) => `\`${s}\``).join(', ')} use \`executor: slurm\`, but \`sbatch\` is not on the PATH.`,
      {
        hint: 'Run `ckpt flow run` where SLURM is installed (a login node), or pass `--local` to run those steps on this machine (their `slurm:` options are then ignored).',
      },
    );
  }
  const layout = flowLayout(graph.workflow.flowDir);
  await fsp.mkdir(layout.root, { recursive: true, mode: DIR_MODE });
  const store = await Store.open(layout.store, { create: true });
  const lease = await acquireLease(store.root, createSlurmHolderProbe()).catch((error: unknown) => {
    if (!(error instanceof LockedError)) throw error;
    throw new LockedError(`Another head runs this workflow: ${error.message}`, {
      hint: 'Wait for that `ckpt flow run` to finish, or stop it; `ckpt flow status` shows its progress. A head that is gone is taken over by itself.',
      cause: error,
    });
  });
  const touch = setInterval(() => void lease.touch(), LEASE_TOUCH_MS);
  try {
    const reaped = await reapStaleTasks(layout.running, lease.record.token);
    if (reaped.length > 0) options.onEvent({ type: 'reaped', tasks: reaped });
    const run = randomBytes(8).toString('hex');
    await appendJournal(store.root, 'flow-run-start', { run, file: graph.workflow.file, jobs: options.jobs });
    const slurm = new SlurmExecutor({
      layout,
      store,
      lease,
      run,
      ckpt: options.ckpt,
      queryEveryMs: options.slurmQueryMs ?? DEFAULT_SLURM_QUERY_MS,
      warn: (message) => options.onEvent({ type: 'warning', message }),
    });
    // Jobs of earlier heads: records committed while no head watched are copied in first.
    slurm.restore((await readJournal(store.root)).events, (await readRecords(store)).records);
    const head = new Head(
      graph,
      options,
      layout,
      store,
      lease,
      run,
      await FileHasher.open(layout.hashCache),
      slurm,
    );
    if (slurm.attempts().length > 0) await head.settleOrphans(await slurm.poll(true));
    const result = await head.runAll(recordsByTask((await readRecords(store)).records));
    await head.hasher.save();
    await appendJournal(store.root, 'flow-run-end', {
      run,
      ran: result.ran.length,
      cached: result.cached.length,
      failed: result.failed.length,
      blocked: result.blocked.length,
      interrupted: result.interrupted,
    });
    return result;
  } finally {
    clearInterval(touch);
    await lease.release();
  }
}

/** Whether `command` is an executable file in a directory of `env.PATH`. */
function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(join(dir || '.', command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

type Item = { task: FlowTask; assessment: TaskAssessment };

/** A SLURM attempt the head waits for: the task it runs, and when the head saw it start. */
interface Watched {
  item: Item;
  attempt: SlurmAttempt;
  since: number;
}

class Head {
  /** Steps whose tasks are not assessed yet, in dependency order. */
  private unassessed: string[];
  /** Per step, how many of its tasks have ended (any outcome), and which failed or were blocked. */
  private readonly endedTasks = new Map<string, number>();
  private readonly badTasks = new Map<string, string[]>();
  private readonly upstream = new Map<string, UpstreamState>();
  private readonly attempts = new Map<string, number>();
  private readonly resubmits = new Map<string, number>();
  private readonly running = new Map<string, { child: ChildProcess; done: Promise<void> }>();
  private readonly queue: Item[] = [];
  /** SLURM attempts of this head's tasks, by attempt id, and attempts of earlier heads with a stale key. */
  private readonly watched = new Map<string, Watched>();
  private readonly waitingFor = new Map<string, Item>();
  /** Tasks to submit at the end of this round, with their attempt specs. */
  private toSubmit: { item: Item; spec: AttemptSpec }[] = [];
  private readonly result: RunFlowResult;
  private ctx!: AssessContext;
  /** Journal lines in the order of the events, written one after the other. */
  private journal: Promise<void> = Promise.resolve();

  constructor(
    private readonly graph: TaskGraph,
    private readonly options: RunFlowOptions,
    private readonly layout: FlowLayout,
    private readonly store: Store,
    private readonly lease: Lease,
    run: string,
    readonly hasher: FileHasher,
    private readonly slurm: SlurmExecutor,
  ) {
    this.result = { run, ran: [], cached: [], failed: [], blocked: [], interrupted: false, slurmJobs: [] };
    this.unassessed = [...graph.stepOrder];
  }

  /**
   * Journals the end of attempts of earlier heads that ended while no head watched: a record
   * (already copied into the store) or none. Their tasks are then assessed like any other.
   */
  async settleOrphans(ended: { attempt: SlurmAttempt; end: AttemptEnd }[]): Promise<void> {
    for (const { attempt, end } of ended)
      this.noteSlurmEnd(attempt, end, end.kind === 'record' ? 'done' : 'lost');
    await this.journal;
  }

  async runAll(records: Map<string, StoredRecord[]>): Promise<RunFlowResult> {
    this.ctx = { graph: this.graph, records, hasher: this.hasher, env: this.options.env };
    const stop = () => {
      this.result.interrupted = true;
      for (const { child } of this.running.values()) child.stdin?.destroy();
    };
    this.options.signal?.addEventListener('abort', stop, { once: true });
    try {
      for (;;) {
        const endedBefore = this.endedCount();
        if (!this.result.interrupted) await this.assessReady();
        if (!this.result.interrupted) await this.startQueued();
        const slurmWaiting = this.watched.size + this.waitingFor.size > 0;
        if (this.running.size === 0 && (this.result.interrupted || !slurmWaiting)) {
          // A submission sbatch refused ends its tasks at once: their retries, and the steps
          // that need them (now blocked), are still to be seen to.
          const moved = this.queue.length > 0 || this.endedCount() !== endedBefore;
          if (!this.result.interrupted && moved) continue;
          break;
        }
        const waits = [...this.running.values()].map((r) => r.done);
        if (slurmWaiting) waits.push(new Promise((r) => setTimeout(r, RESULT_POLL_MS)));
        await Promise.race(waits);
        if (slurmWaiting && !this.result.interrupted) await this.pollSlurm();
      }
    } finally {
      this.options.signal?.removeEventListener('abort', stop);
      await this.journal;
    }
    this.result.slurmJobs = [...this.watched.values()].flatMap((w) => (w.attempt.job ? [w.attempt.job] : []));
    return this.result;
  }

  /** Starts queued local tasks up to `jobs` at once, and submits queued SLURM tasks, a step's as one array. */
  private async startQueued(): Promise<void> {
    const keep: Item[] = [];
    for (const item of this.queue.splice(0)) {
      if (this.onSlurm(item.task)) this.toSubmit.push({ item, spec: this.attemptSpec(item) });
      else if (this.running.size < this.options.jobs) this.start(item);
      else keep.push(item);
    }
    this.queue.push(...keep);
    const byStep = new Map<string, { item: Item; spec: AttemptSpec }[]>();
    for (const one of this.toSubmit.splice(0)) {
      const list = byStep.get(one.item.task.step) ?? [];
      list.push(one);
      byStep.set(one.item.task.step, list);
    }
    for (const [step, list] of byStep) await this.submit(step, list);
  }

  private onSlurm(task: FlowTask): boolean {
    return this.graph.steps.get(task.step)!.executor === 'slurm' && !this.options.allLocal;
  }

  /** Submits a step's tasks: one array, or several when they are more than SLURM's MaxArraySize allows. */
  private async submit(stepName: string, all: { item: Item; spec: AttemptSpec }[]): Promise<void> {
    const limit = await this.slurm.arrayLimit();
    for (let from = 0; from < all.length; from += limit) {
      const list = all.slice(from, from + limit);
      let submitted: SlurmAttempt[];
      try {
        submitted = await this.slurm.submit(
          this.graph.steps.get(stepName)!,
          list.map((l) => l.spec),
        );
      } catch (error) {
        const why = `sbatch did not take it: ${(error as Error).message}`;
        for (const { item, spec } of list) this.failed(item, spec.attempt, why, spec.log, false);
        continue;
      }
      submitted.forEach((attempt, i) => {
        const { item, spec } = list[i]!;
        this.watched.set(attempt.attemptId, { item, attempt, since: performance.now() });
        this.options.onEvent({
          type: 'submitted',
          task: item.task.id,
          attempt: spec.attempt,
          job: attempt.job!,
          log: spec.log,
        });
        this.note('flow-task-start', {
          task: item.task.id,
          attempt: spec.attempt,
          key: spec.key,
          job: attempt.job!,
          attemptId: attempt.attemptId,
        });
      });
    }
  }

  /** Learns which SLURM attempts ended, and settles each: done, retried, resubmitted or failed. */
  private async pollSlurm(): Promise<void> {
    for (const { attempt, end } of await this.slurm.poll()) {
      const waiting = this.waitingFor.get(attempt.attemptId);
      if (waiting) {
        // An earlier head's attempt with a stale key ended: now the task may run again.
        this.waitingFor.delete(attempt.attemptId);
        this.noteSlurmEnd(attempt, end, 'superseded');
        this.queue.push(waiting);
        continue;
      }
      const watched = this.watched.get(attempt.attemptId);
      if (!watched) {
        this.noteSlurmEnd(attempt, end, end.kind === 'record' ? 'done' : 'lost');
        continue;
      }
      this.watched.delete(attempt.attemptId);
      const { item } = watched;
      const log = logPath(this.layout, item.task.id, attempt.attempt);
      const ms = performance.now() - watched.since;
      if (end.kind === 'record') {
        const ok = this.recordMatches(item, end.record);
        this.settle(
          item,
          attempt.attempt,
          ok ? end.record : undefined,
          end.seq,
          end.record.error ?? "its record is not this attempt's",
          ms,
          {
            attemptId: attempt.attemptId,
            ...(attempt.job ? { job: attempt.job } : {}),
          },
        );
        continue;
      }
      const step = this.graph.steps.get(item.task.step)!;
      if (resumableEnd(end, step) && (this.resubmits.get(item.task.id) ?? 0) < MAX_RESUBMITS) {
        this.resubmits.set(item.task.id, (this.resubmits.get(item.task.id) ?? 0) + 1);
        const why =
          end.kind === 'not-submitted'
            ? 'its submission never reached SLURM'
            : `job ${attempt.job} ended ${end.state}`;
        this.noteSlurmEnd(attempt, end, 'resubmit');
        this.options.onEvent({ type: 'resubmitted', task: item.task.id, attempt: attempt.attempt, why });
        // The same attempt again: a `checkpoint:` step resumes from its step store.
        this.attempts.set(item.task.id, attempt.attempt - 1);
        this.queue.push(item);
        continue;
      }
      const error =
        end.kind === 'no-record' ? noRecordError(end, attempt.job) : 'its submission never reached SLURM';
      const cancelled = end.kind === 'no-record' && end.state === 'CANCELLED';
      this.noteSlurmEnd(attempt, end, cancelled ? 'cancelled' : 'failed', error);
      this.failed(item, attempt.attempt, error, log, !cancelled, false);
    }
  }

  private noteSlurmEnd(attempt: SlurmAttempt, end: AttemptEnd, outcome: string, error?: string): void {
    this.note('flow-task-end', {
      task: attempt.task,
      attempt: attempt.attempt,
      outcome,
      attemptId: attempt.attemptId,
      ...(attempt.job ? { job: attempt.job } : {}),
      ...(end.kind === 'record' ? { seq: end.seq } : {}),
      ...(error ? { error } : end.kind === 'no-record' ? { error: `${end.state}: ${end.reason}` } : {}),
    });
  }

  /**
   * Assesses the tasks of every step whose needed steps have ended, in dependency order, and
   * blocks those of a step that needs a failed or blocked task. `needs` are per step, so
   * readiness is decided once per step, not per task: one pass costs the number of steps.
   */
  private async assessReady(): Promise<void> {
    const waiting: string[] = [];
    const live = new Map(this.slurm.attempts().map((a) => [a.task, a]));
    for (const name of this.unassessed) {
      const needs = this.graph.steps.get(name)!.needs;
      const tasks = this.graph.tasksOf.get(name)!;
      const bad = needs.flatMap((need) => this.badTasks.get(need) ?? []);
      if (bad.length > 0) {
        for (const task of tasks) {
          this.finish(task, 'blocked');
          this.options.onEvent({ type: 'blocked', task: task.id, why: `${bad.join(', ')} did not finish` });
        }
        continue;
      }
      if (!needs.every((need) => this.endedTasks.get(need) === this.graph.tasksOf.get(need)!.length)) {
        waiting.push(name);
        continue;
      }
      const ups = needs.flatMap((need) => this.graph.tasksOf.get(need)!.map((u) => this.upstream.get(u.id)!));
      for (const task of tasks) {
        const assessment = await assessTask(this.ctx, task, ups);
        if (assessment.verdict === 'done') {
          this.upstream.set(task.id, upstreamStateOf(assessment));
          this.finish(task, 'cached');
          this.options.onEvent({ type: 'cached', task: task.id });
        } else if (assessment.verdict === 'blocked') {
          this.finish(task, 'blocked');
          this.options.onEvent({
            type: 'blocked',
            task: task.id,
            why: `missing input ${assessment.missing.join(', ')}`,
          });
        } else {
          this.attempts.set(task.id, 0);
          const earlier = live.get(task.id);
          if (earlier && !this.watched.has(earlier.attemptId)) this.attach(earlier, { task, assessment });
          else this.queue.push({ task, assessment });
        }
      }
    }
    this.unassessed = waiting;
  }

  /**
   * A SLURM job of an earlier head runs (or waits to run) this task: with the same key, the head
   * waits for it instead of submitting the task again; with another key (an input changed
   * meanwhile), it waits for it to end before submitting, so that the task never runs twice at once.
   */
  private attach(attempt: SlurmAttempt, item: Item): void {
    if (attempt.key !== item.assessment.key) {
      this.waitingFor.set(attempt.attemptId, item);
      return;
    }
    this.attempts.set(item.task.id, attempt.attempt);
    this.watched.set(attempt.attemptId, { item, attempt, since: performance.now() });
    this.options.onEvent({
      type: 'attached',
      task: item.task.id,
      attempt: attempt.attempt,
      job: attempt.job ?? '(looking it up)',
    });
  }

  /** Tasks ended so far, any outcome. */
  private endedCount(): number {
    let n = 0;
    for (const count of this.endedTasks.values()) n += count;
    return n;
  }

  private finish(task: FlowTask, outcome: Outcome): void {
    this.endedTasks.set(task.step, (this.endedTasks.get(task.step) ?? 0) + 1);
    if (outcome === 'failed' || outcome === 'blocked') {
      const bad = this.badTasks.get(task.step) ?? [];
      bad.push(task.id);
      this.badTasks.set(task.step, bad);
    }
    const lists: Record<Outcome, string[]> = {
      done: this.result.ran,
      cached: this.result.cached,
      failed: this.result.failed,
      blocked: this.result.blocked,
    };
    lists[outcome].push(task.id);
  }

  /** A journal line for what the head did; a journal that cannot take it does not stop the run. */
  private note<K extends 'flow-task-start' | 'flow-task-end'>(
    type: K,
    fields: Omit<JournalPayload<K>, 'run'>,
  ): void {
    const line = { run: this.result.run, ...fields } as JournalPayload<K>;
    this.journal = this.journal.then(() => appendJournal(this.store.root, type, line)).catch(() => {});
  }

  /** The next attempt of a task, as its wrapper (local or in a SLURM job) gets it. */
  private attemptSpec(item: Item): AttemptSpec {
    const { task, assessment } = item;
    const attempt = (this.attempts.get(task.id) ?? 0) + 1;
    this.attempts.set(task.id, attempt);
    const step = this.graph.steps.get(task.step)!;
    const key = assessment.key!;
    return {
      task: task.id,
      step: task.step,
      command: task.command,
      outputs: task.outputs,
      key,
      components: assessment.components,
      attempt,
      run: this.result.run,
      dir: this.graph.workflow.dir,
      flowDir: this.layout.root,
      log: logPath(this.layout, task.id, attempt),
      ...(step.checkpoint
        ? {
            checkpoint: {
              ckpt: this.options.ckpt,
              store: stepStorePath(this.layout, task.id, key),
              every: step.checkpoint.every,
              capture: task.capture,
              app: step.checkpoint.app,
            },
          }
        : {}),
    };
  }

  private start(item: Item): void {
    const { task } = item;
    const spec: TaskSpec = { ...this.attemptSpec(item), token: this.lease.record.token };
    const { attempt, log, key } = spec;
    const [file, ...args] = this.options.ckpt;
    const startedAt = performance.now();
    // Its own process group (detached): a Ctrl-C at the terminal reaches the head, which stops it.
    const child = spawn(file!, [...args, 'flow', 'exec', '--spec', JSON.stringify(spec)], {
      cwd: this.graph.workflow.dir,
      env: this.options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.stdin!.on('error', () => {});
    this.options.onEvent({ type: 'start', task: task.id, attempt, log });
    this.note('flow-task-start', { task: task.id, attempt, key, pid: child.pid });
    const done = new Promise<void>((resolve) => {
      child.on('close', (code) => {
        void this.ended(item, attempt, code, stdout, stderr, performance.now() - startedAt).finally(() => {
          this.running.delete(task.id);
          resolve();
        });
      });
    });
    this.running.set(task.id, { child, done });
  }

  private recordMatches(item: Item, record: TaskRecord | undefined): record is TaskRecord {
    return record?.ok === true && record.task === item.task.id && record.key === item.assessment.key;
  }

  /** A local attempt's wrapper ended: its record (printed `{"seq":N}`) says how. */
  private async ended(
    item: Item,
    attempt: number,
    code: number | null,
    stdout: string,
    stderr: string,
    ms: number,
  ): Promise<void> {
    const seq = /"seq":(\d+)/.exec(stdout)?.[1];
    const record = seq === undefined ? undefined : await readRecord(this.store, Number(seq));
    if (!this.recordMatches(item, record) && this.result.interrupted) return; // stopped: no record, nothing counts
    const error =
      record?.error ??
      `its wrapper ended (exit ${code}) without a record${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' ')}` : ''}`;
    this.settle(
      item,
      attempt,
      this.recordMatches(item, record) ? record : undefined,
      Number(seq),
      error,
      ms,
      {},
    );
  }

  /** An attempt ended: with its record (done), or failed with `error` (retried while retries are left). */
  private settle(
    item: Item,
    attempt: number,
    record: TaskRecord | undefined,
    seq: number,
    error: string,
    ms: number,
    journal: { attemptId?: string; job?: string },
  ): void {
    const { task } = item;
    if (!record) {
      if (journal.attemptId) {
        this.note('flow-task-end', { task: task.id, attempt, outcome: 'failed', error, ...journal });
      }
      this.failed(item, attempt, error, logPath(this.layout, task.id, attempt), true, !journal.attemptId);
      return;
    }
    for (const [path, hashed] of Object.entries(record.outputs)) {
      this.hasher.remember(`${this.graph.workflow.dir}/${path}`, hashed);
    }
    this.upstream.set(task.id, {
      id: task.id,
      key: record.key,
      outputs: Object.fromEntries(Object.entries(record.outputs).map(([p, h]) => [p, h.hash])),
      outputNames: task.outputs,
    });
    this.finish(task, 'done');
    this.note('flow-task-end', { task: task.id, attempt, outcome: 'done', seq, ...journal });
    this.options.onEvent({
      type: 'done',
      task: task.id,
      attempt,
      ms,
      ...(journal.job ? { job: journal.job } : {}),
    });
  }

  /** A failed attempt: retried while `retries` are left (and `retryable`), else the task failed. */
  private failed(
    item: Item,
    attempt: number,
    error: string,
    log: string,
    retryable: boolean,
    journal = true,
  ): void {
    const { task } = item;
    const retry = retryable && attempt <= this.graph.steps.get(task.step)!.retries;
    if (journal)
      this.note('flow-task-end', { task: task.id, attempt, outcome: retry ? 'retry' : 'failed', error });
    this.options.onEvent({ type: 'failed', task: task.id, attempt, error, retry, log });
    if (retry) this.queue.push(item);
    else this.finish(task, 'failed');
  }
}
