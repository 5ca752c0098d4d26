import { promises as fsp } from 'node:fs';
import { DIR_MODE, type JournalEvent, journalEventsOf, readJournal, Store } from '../store/index.js';
import { type AssessContext, assessFlow, type TaskAssessment } from './assess.js';
import type { TaskGraph } from './expand-tasks.js';
import { FileHasher } from './file-hash.js';
import { flowLayout } from './flow-layout.js';
import { markerAlive, readMarkers } from './markers.js';
import { readRecords, recordsByTask } from './records.js';
import { outstandingAttempts, resultRecord, type SlurmAttempt, SlurmExecutor } from './slurm-executor.js';

/** A task's state as `ckpt flow status` shows it. */
export type TaskStatus = 'done' | 'cached' | 'queued' | 'running' | 'failed' | 'pending' | 'blocked';

/**
 * One task's status. `done`: finished in the latest run of a head; `cached`: done by an earlier
 * run and still up to date; `queued`: its SLURM job waits to start; `running`: a wrapper or a
 * SLURM job runs it now; `failed`: its latest attempt for
 * the current inputs failed; `pending`: it has to run; `blocked`: a declared input is missing.
 */
export interface TaskStatusRow {
  task: string;
  step: string;
  status: TaskStatus;
  /** Attempts recorded for the task's current key (or its latest key when that is not known). */
  attempts: number;
  key: string | null;
  error?: string;
  /** The SLURM job of its newest attempt (`A_i` for an array task), when it ran there. */
  job?: string;
  assessment: TaskAssessment;
}

/** Everything `ckpt flow status`, `plan` and `why` show, read without taking the lease. */
export interface FlowStatus {
  rows: TaskStatusRow[];
  /** Whether a head holds the flow now, and its run id. */
  latestRun: string | undefined;
  skippedRecords: string[];
}

/**
 * Reads the flow's records and running markers and assesses every task; runs nothing. The file
 * hashes it computed are saved to the hash cache (best effort; the flow directory is created for
 * it), so that the next plan or run does not read the same files again.
 */
export async function readFlowStatus(graph: TaskGraph, env: NodeJS.ProcessEnv): Promise<FlowStatus> {
  const layout = flowLayout(graph.workflow.flowDir);
  const store = await Store.open(layout.store).catch(() => undefined);
  const { records, skipped } = store ? await readRecords(store) : { records: [], skipped: [] };
  const events = store ? (await readJournal(store.root)).events : [];
  // SLURM attempts no head has looked at yet: a record in its result store counts as committed.
  const outstanding: SlurmAttempt[] = [];
  let newer = (records.at(-1)?.seq ?? 0) + 1;
  for (const attempt of outstandingAttempts(events, records)) {
    const found = await resultRecord(layout, attempt);
    if (found) records.push({ seq: newer++, record: found.record });
    else outstanding.push(attempt);
  }
  const queueStates = await SlurmExecutor.states(outstanding);
  const slurmLive = new Map<string, { job: string | undefined; state: 'queued' | 'running' }>();
  for (const a of outstanding) {
    const state = queueStates.get(a.attemptId);
    if (state) slurmLive.set(a.task, { job: a.job, state });
  }
  const byTask = recordsByTask(records);
  const hasher = await FileHasher.open(layout.hashCache);
  const ctx: AssessContext = { graph, records: byTask, hasher, env };
  const assessed = await assessFlow(ctx);
  await fsp
    .mkdir(layout.root, { recursive: true, mode: DIR_MODE })
    .then(() => hasher.save())
    .catch(() => {});
  const live = new Set<string>();
  for (const { marker } of await readMarkers(layout.running))
    if (await markerAlive(marker)) live.add(marker.task);
  const runs = journalEventsOf(events, 'flow-run-start');
  const latestRun = runs.at(-1)?.run;
  const lostOnSlurm = slurmFailures(events);
  const rows = graph.tasks.map((task): TaskStatusRow => {
    const a = assessed.get(task.id)!;
    const history = byTask.get(task.id) ?? [];
    const key = a.key ?? a.record?.record.key ?? history[0]?.record.key ?? null;
    const attempts = history.filter((r) => r.record.key === key).length;
    const last = history[0]?.record;
    let status: TaskStatus;
    const onSlurm = slurmLive.get(task.id);
    if (onSlurm) status = onSlurm.state;
    else if (live.has(task.id)) status = 'running';
    else if (a.verdict === 'done') status = a.record!.record.run === latestRun ? 'done' : 'cached';
    else if (a.verdict === 'blocked') status = 'blocked';
    else if (last && !last.ok && (a.key === null || last.key === a.key)) status = 'failed';
    else status = 'pending';
    // A SLURM job that ended without a record (scancel, a time limit, out of memory) after it.
    const lost = lostOnSlurm.get(task.id);
    const newer = lost && (!last || lost.time > last.endedAt) && (a.key === null || lost.key === a.key);
    if (newer && (status === 'pending' || status === 'failed')) status = 'failed';
    const row: TaskStatusRow = {
      task: task.id,
      step: task.step,
      status,
      attempts,
      key: a.key,
      assessment: a,
    };
    if (status === 'failed' && newer) {
      row.error = lost.error;
      row.job = lost.job;
    } else {
      if (status === 'failed' && last?.error) row.error = last.error;
      const job = onSlurm?.job ?? (status !== 'pending' && status !== 'blocked' ? last?.job : undefined);
      if (job) row.job = job;
    }
    return row;
  });
  return { rows, latestRun, skippedRecords: skipped };
}

/**
 * Per task, its newest SLURM attempt that ended without a record (the head journaled why: a
 * scancel, a time limit, out of memory…), with the key it ran for.
 */
function slurmFailures(
  events: readonly JournalEvent[],
): Map<string, { time: string; key: string; error: string; job: string }> {
  const keys = new Map<string, string>();
  for (const e of journalEventsOf(events, 'flow-submit')) {
    for (const [i, t] of e.tasks.entries()) keys.set(`${e.nonce}.${i}`, t.key);
  }
  const out = new Map<string, { time: string; key: string; error: string; job: string }>();
  for (const e of journalEventsOf(events, 'flow-task-end')) {
    if (!e.attemptId || e.seq !== undefined) continue;
    if (e.outcome !== 'failed' && e.outcome !== 'cancelled') continue;
    const key = keys.get(e.attemptId);
    if (key) out.set(e.task, { time: e.time, key, error: e.error ?? e.outcome, job: e.job ?? '?' });
  }
  return out;
}
