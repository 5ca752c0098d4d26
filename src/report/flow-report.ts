import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { flowLayout, readFlowStatus, type TaskGraph } from '../flow/index.js';
import { journalEventsOf, knownJournalEvents, readJournal } from '../store/index.js';

/** Tasks listed one by one in a flow's view; the steps' counts cover them all. */
export const MAX_TASK_ROWS = 500;
/** Attempts drawn on a flow's timeline (the newest). */
export const MAX_ATTEMPT_BARS = 300;

/** One attempt of a task, from the flow's journal. */
export interface AttemptBar {
  task: string;
  attempt: number;
  started: string;
  ended: string | null;
  /** done, failed, retry, cancelled, lost, resubmit, cut off (its head died)…; null while it runs. */
  outcome: string | null;
  job: string | null;
  error: string | null;
}

/** Everything the views show of a workflow (`ckpt flow report`, `ckpt flow ui`). */
export interface FlowReport {
  kind: 'flow';
  file: string;
  generatedAt: string;
  steps: { name: string; executor: string; tasks: number; counts: Record<string, number> }[];
  tasks: {
    task: string;
    step: string;
    status: string;
    attempts: number;
    job: string | null;
    error: string | null;
  }[];
  /** Tasks beyond {@link MAX_TASK_ROWS}, not listed. */
  moreTasks: number;
  attempts: AttemptBar[];
  /** Head runs: when each started and ended, and what it did. */
  runs: { run: string; started: string; ended: string | null; summary: string }[];
}

/** The report of a workflow: its tasks as `ckpt flow status` sees them, and its attempts from the journal. */
export async function readFlowReport(graph: TaskGraph, env: NodeJS.ProcessEnv): Promise<FlowReport> {
  const { rows } = await readFlowStatus(graph, env);
  const steps = graph.stepOrder.map((name) => {
    const counts: Record<string, number> = {};
    for (const r of rows) if (r.step === name) counts[r.status] = (counts[r.status] ?? 0) + 1;
    const step = graph.steps.get(name)!;
    return { name, executor: step.executor, tasks: graph.tasksOf.get(name)!.length, counts };
  });
  const events = await readJournal(flowLayout(graph.workflow.flowDir).store)
    .then((j) => j.events)
    .catch(() => []);
  // In journal order: a later head numbers its attempts from 1 again.
  const open = new Map<string, AttemptBar>();
  const attempts: AttemptBar[] = [];
  for (const e of knownJournalEvents(events)) {
    if (e.type === 'flow-task-start') {
      const bar: AttemptBar = {
        task: e.task,
        attempt: e.attempt,
        started: e.time,
        ended: null,
        outcome: null,
        job: e.job ?? null,
        error: null,
      };
      open.set(e.attemptId ?? `${e.task}#${e.attempt}`, bar);
      attempts.push(bar);
    } else if (e.type === 'flow-task-end') {
      const id = e.attemptId ?? `${e.task}#${e.attempt}`;
      const bar = open.get(id);
      if (!bar) continue;
      open.delete(id);
      bar.ended = e.time;
      bar.outcome = e.outcome;
      bar.error = e.error ?? null;
      bar.job ??= e.job ?? null;
    } else if (e.type === 'flow-run-start') {
      // A new head: the local attempts a killed head left open died with it (SLURM jobs go on).
      for (const [id, bar] of open) {
        if (id.includes('#')) {
          bar.outcome = 'cut off';
          open.delete(id);
        }
      }
    }
  }
  const ends = new Map(journalEventsOf(events, 'flow-run-end').map((e) => [e.run, e]));
  const runs = journalEventsOf(events, 'flow-run-start').map((s) => {
    const end = ends.get(s.run);
    return {
      run: s.run,
      started: s.time,
      ended: end?.time ?? null,
      summary: end
        ? `${end.ran} ran, ${end.cached} cached, ${end.failed} failed, ${end.blocked} blocked${end.interrupted ? ', stopped' : ''}`
        : 'no end recorded (running, or killed)',
    };
  });
  return {
    kind: 'flow',
    file: graph.workflow.file,
    generatedAt: new Date().toISOString(),
    steps,
    tasks: rows.slice(0, MAX_TASK_ROWS).map((r) => ({
      task: r.task,
      step: r.step,
      status: r.status,
      attempts: r.attempts,
      job: r.job ?? null,
      error: r.error ?? null,
    })),
    moreTasks: Math.max(0, rows.length - MAX_TASK_ROWS),
    attempts: attempts.slice(-MAX_ATTEMPT_BARS),
    runs,
  };
}

/** What changes when a flow moves on: its store's journal and manifests, results, running markers. */
export async function flowFingerprint(graph: TaskGraph): Promise<string> {
  const layout = flowLayout(graph.workflow.flowDir);
  const parts: string[] = [];
  for (const path of [
    join(layout.store, 'journal.log'),
    join(layout.store, 'manifests'),
    layout.results,
    layout.running,
  ]) {
    const s = await fsp.stat(path).catch(() => undefined);
    parts.push(s ? `${s.size}:${s.mtimeMs}` : '-');
  }
  return parts.join('|');
}
