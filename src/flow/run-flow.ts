import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { LockedError, UsageError } from '../errors.js';
import {
  acquireLease,
  appendJournal,
  DIR_MODE,
  type JournalPayload,
  type Lease,
  Store,
} from '../store/index.js';
import { type AssessContext, assessTask, type TaskAssessment, upstreamStateOf } from './assess.js';
import type { FlowTask, TaskGraph } from './expand-tasks.js';
import { FileHasher } from './file-hash.js';
import { type FlowLayout, flowLayout, logPath, stepStorePath } from './flow-layout.js';
import { reapStaleTasks } from './markers.js';
import { readRecord, readRecords, recordsByTask, type StoredRecord } from './records.js';
import { LEASE_TOUCH_MS, type RunFlowOptions, type RunFlowResult } from './run-flow-api.js';
import type { TaskSpec } from './run-task.js';
import type { UpstreamState } from './task-key.js';

type Outcome = 'done' | 'cached' | 'failed' | 'blocked';

/**
 * Runs what the workflow needs, in dependency order, up to `jobs` tasks at once: the local
 * executor's head. It holds the flow store's lease (a dead head's is taken over), ends tasks a
 * dead head left running, and rebuilds its state from the committed records, so a head killed
 * at any moment loses no finished task. Each attempt runs in a wrapper (`ckpt flow exec`) that
 * commits the task's record; a failed task is retried `retries` times, and the tasks needing it
 * are not run. Throws {@link UsageError} for `executor: slurm` steps unless `allLocal`.
 */
export async function runFlow(graph: TaskGraph, options: RunFlowOptions): Promise<RunFlowResult> {
  const slurmSteps = [...graph.steps.values()].filter((s) => s.executor === 'slurm').map((s) => s.name);
  if (slurmSteps.length > 0 && !options.allLocal) {
    throw new UsageError(
      `Steps ${slurmSteps.map((s) => `\`${s}\``).join(', ')} use \`executor: slurm\`, which ckpt flow cannot run yet.`,
      {
        hint: 'Pass `--local` to run them on this machine (their `slurm:` options are then ignored), or set `executor: local`.',
      },
    );
  }
  const layout = flowLayout(graph.workflow.flowDir);
  await fsp.mkdir(layout.root, { recursive: true, mode: DIR_MODE });
  const store = await Store.open(layout.store, { create: true });
  const lease = await acquireLease(store.root).catch((error: unknown) => {
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
    const head = new Head(graph, options, layout, store, lease, run, await FileHasher.open(layout.hashCache));
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

class Head {
  /** Steps whose tasks are not assessed yet, in dependency order. */
  private unassessed: string[];
  /** Per step, how many of its tasks have ended (any outcome), and which failed or were blocked. */
  private readonly endedTasks = new Map<string, number>();
  private readonly badTasks = new Map<string, string[]>();
  private readonly upstream = new Map<string, UpstreamState>();
  private readonly attempts = new Map<string, number>();
  private readonly running = new Map<string, { child: ChildProcess; done: Promise<void> }>();
  private readonly queue: { task: FlowTask; assessment: TaskAssessment }[] = [];
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
  ) {
    this.result = { run, ran: [], cached: [], failed: [], blocked: [], interrupted: false };
    this.unassessed = [...graph.stepOrder];
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
        if (!this.result.interrupted) await this.assessReady();
        while (!this.result.interrupted && this.queue.length > 0 && this.running.size < this.options.jobs) {
          this.start(this.queue.shift()!);
        }
        if (this.running.size === 0) break;
        await Promise.race([...this.running.values()].map((r) => r.done));
      }
    } finally {
      this.options.signal?.removeEventListener('abort', stop);
      await this.journal;
    }
    return this.result;
  }

  /**
   * Assesses the tasks of every step whose needed steps have ended, in dependency order, and
   * blocks those of a step that needs a failed or blocked task. `needs` are per step, so
   * readiness is decided once per step, not per task: one pass costs the number of steps.
   */
  private async assessReady(): Promise<void> {
    const waiting: string[] = [];
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
          this.queue.push({ task, assessment });
        }
      }
    }
    this.unassessed = waiting;
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

  private start(item: { task: FlowTask; assessment: TaskAssessment }): void {
    const { task, assessment } = item;
    const attempt = (this.attempts.get(task.id) ?? 0) + 1;
    this.attempts.set(task.id, attempt);
    const step = this.graph.steps.get(task.step)!;
    const key = assessment.key!;
    const log = logPath(this.layout, task.id, attempt);
    const spec: TaskSpec = {
      task: task.id,
      step: task.step,
      command: task.command,
      outputs: task.outputs,
      key,
      components: assessment.components,
      attempt,
      run: this.result.run,
      token: this.lease.record.token,
      dir: this.graph.workflow.dir,
      flowDir: this.layout.root,
      log,
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

  private async ended(
    item: { task: FlowTask; assessment: TaskAssessment },
    attempt: number,
    code: number | null,
    stdout: string,
    stderr: string,
    ms: number,
  ): Promise<void> {
    const { task } = item;
    const seq = /"seq":(\d+)/.exec(stdout)?.[1];
    const record = seq === undefined ? undefined : await readRecord(this.store, Number(seq));
    const log = logPath(this.layout, task.id, attempt);
    if (record?.ok && record.task === task.id && record.key === item.assessment.key) {
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
      this.note('flow-task-end', { task: task.id, attempt, outcome: 'done', seq: Number(seq) });
      this.options.onEvent({ type: 'done', task: task.id, attempt, ms });
      return;
    }
    if (this.result.interrupted) return; // stopped: no record, nothing counts
    const error =
      record?.error ??
      `its wrapper ended (exit ${code}) without a record${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' ')}` : ''}`;
    const retry = attempt <= this.graph.steps.get(task.step)!.retries;
    this.note('flow-task-end', { task: task.id, attempt, outcome: retry ? 'retry' : 'failed', error });
    this.options.onEvent({ type: 'failed', task: task.id, attempt, error, retry, log });
    if (retry) this.queue.push(item);
    else this.finish(task, 'failed');
  }
}
