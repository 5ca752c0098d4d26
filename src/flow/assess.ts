import { join } from 'node:path';
import type { FlowTask, TaskGraph } from './expand-tasks.js';
import { type FileHasher, MissingFileError } from './file-hash.js';
import type { StoredRecord } from './records.js';
import {
  type ComponentChange,
  diffComponents,
  type KeyComponent,
  keyComponents,
  keyOf,
  type UpstreamState,
} from './task-key.js';

/** Why a task has to run. */
export type RunReason =
  | { type: 'never-ran' }
  | { type: 'failed'; error: string }
  | { type: 'changed'; changes: ComponentChange[] }
  | { type: 'output-changed'; path: string; old: string; new: string | null }
  | { type: 'upstream-runs'; tasks: string[] }
  | { type: 'upstream-blocked'; tasks: string[] };

/**
 * Where a task stands. `done`: its newest successful record has the current key and its outputs
 * match; `run`: it has to run (`reasons` say why); `blocked`: it cannot run (a declared input
 * is missing and nothing writes it).
 */
export interface TaskAssessment {
  task: FlowTask;
  verdict: 'done' | 'run' | 'blocked';
  /** The current key; null while an upstream task has still to run. */
  key: string | null;
  components: KeyComponent[];
  /** The record that makes it done. */
  record: StoredRecord | undefined;
  reasons: RunReason[];
  missing: string[];
}

/** What every assessment needs besides the task. */
export interface AssessContext {
  graph: TaskGraph;
  /** Newest first, per task id. */
  records: Map<string, StoredRecord[]>;
  hasher: FileHasher;
  env: NodeJS.ProcessEnv;
}

/** The state an assessed task passes on to the tasks that need it. */
export function upstreamStateOf(a: TaskAssessment): UpstreamState {
  const done = a.verdict === 'done' && a.record;
  return {
    id: a.task.id,
    key: done ? a.record!.record.key : a.key,
    outputs: done
      ? Object.fromEntries(Object.entries(a.record!.record.outputs).map(([p, h]) => [p, h.hash]))
      : null,
    outputNames: a.task.outputs,
  };
}

/** The tasks `task` needs: every task of every step in its step's `needs`. */
export function upstreamTasks(graph: TaskGraph, task: FlowTask): FlowTask[] {
  return graph.steps.get(task.step)!.needs.flatMap((need) => graph.tasksOf.get(need)!);
}

/** Assesses one task, given the states of the tasks it needs. */
export async function assessTask(
  ctx: AssessContext,
  task: FlowTask,
  upstream: readonly UpstreamState[],
): Promise<TaskAssessment> {
  const { dir } = ctx.graph.workflow;
  const step = ctx.graph.steps.get(task.step)!;
  const parts = keyComponents(task, step.env, upstream, dir, ctx.hasher, ctx.env);
  const { components, missing } = parts instanceof Promise ? await parts : parts;
  const key = missing.length > 0 ? null : keyOf(components);
  const base = { task, key, components, missing, record: undefined };
  if (missing.length > 0) return { ...base, verdict: 'blocked', reasons: [] };
  const history = ctx.records.get(task.id) ?? [];
  const pending = upstream.filter((u) => u.key === null || u.outputs === null).map((u) => u.id);
  const lastOk = history.find((r) => r.record.ok);
  const reasons: RunReason[] = [];
  if (pending.length > 0) reasons.push({ type: 'upstream-runs', tasks: pending });
  if (key !== null && lastOk?.record.key === key) {
    const changed = await changedOutputs(lastOk, dir, ctx.hasher);
    if (changed.length === 0) return { ...base, verdict: 'done', record: lastOk, reasons: [] };
    reasons.push(...changed);
    return { ...base, verdict: 'run', reasons };
  }
  if (!lastOk) {
    const last = history[0]?.record;
    reasons.push(last ? { type: 'failed', error: last.error ?? 'failed' } : { type: 'never-ran' });
  } else {
    const changes = diffComponents(lastOk.record.components, components).filter(
      (c) => !(c.new === null && pending.length > 0 && (c.kind === 'upstream' || c.from !== undefined)),
    );
    if (changes.length > 0) reasons.push({ type: 'changed', changes });
    const last = history[0]!.record;
    if (!last.ok && last.key === key) reasons.push({ type: 'failed', error: last.error ?? 'failed' });
  }
  return { ...base, verdict: 'run', reasons };
}

/** The outputs that no longer match a record: changed or gone. */
export async function changedOutputs(
  stored: StoredRecord,
  dir: string,
  hasher: FileHasher,
): Promise<RunReason[]> {
  const out: RunReason[] = [];
  for (const [path, recorded] of Object.entries(stored.record.outputs)) {
    const abs = join(dir, path);
    hasher.remember(abs, recorded);
    try {
      const hashed = hasher.hashNow(abs);
      const now = hashed instanceof Promise ? await hashed : hashed;
      if (now.hash !== recorded.hash)
        out.push({ type: 'output-changed', path, old: recorded.hash, new: now.hash });
    } catch (error) {
      if (!(error instanceof MissingFileError)) throw error;
      out.push({ type: 'output-changed', path, old: recorded.hash, new: null });
    }
  }
  return out;
}

/**
 * Assesses every task in dependency order as a run starting now would see it: a task whose
 * upstream has to run has to run too (its key is known only once they have).
 */
export async function assessFlow(ctx: AssessContext): Promise<Map<string, TaskAssessment>> {
  const out = new Map<string, TaskAssessment>();
  for (const task of ctx.graph.tasks) {
    const ups = upstreamTasks(ctx.graph, task).map((t) => out.get(t.id)!);
    const blockedBy = ups.filter((u) => u.verdict === 'blocked').map((u) => u.task.id);
    const assessment = await assessTask(ctx, task, ups.map(upstreamStateOf));
    if (blockedBy.length > 0 && assessment.verdict !== 'blocked') {
      assessment.verdict = 'blocked';
      assessment.reasons = [{ type: 'upstream-blocked', tasks: blockedBy }];
    }
    out.set(task.id, assessment);
  }
  return out;
}
