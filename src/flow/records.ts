import { CkptError } from '../errors.js';
import type { Lease, Store } from '../store/index.js';
import type { HashedFile } from './file-hash.js';
import type { KeyComponent } from './task-key.js';

/** The `meta` field of a flow store's checkpoint that holds a task record. */
export const RECORD_META = 'ckptFlowRecord';
/** The version of {@link TaskRecord}. */
export const RECORD_VERSION = 1;

/**
 * What the wrapper that ran one attempt of a task commits, as the `meta` of one checkpoint in
 * the flow's store (so it is checksummed with the manifest and exists only once it is whole).
 * A task is done when its newest `ok` record has the task's current key and its outputs still
 * have the recorded identities or hashes.
 */
export interface TaskRecord {
  version: number;
  task: string;
  step: string;
  key: string;
  /** The key's parts, for `ckpt flow why`. */
  components: KeyComponent[];
  command: string;
  ok: boolean;
  /** Exit status of the command; null when it died of a signal or never started. */
  exit: number | null;
  signal: string | null;
  /** Why a failed attempt failed, in words. */
  error?: string;
  /** Output path (relative) → hash and identity when the attempt ended; empty when it failed. */
  outputs: Record<string, HashedFile>;
  attempt: number;
  /** The head run this attempt belongs to. */
  run: string;
  /** This attempt's nonce (`CKPT_FLOW_ATTEMPT_ID` of the command). */
  nonce: string;
  startedAt: string;
  endedAt: string;
  host: string;
  pid: number;
  log: string;
  /** A SLURM attempt's job (`A_i` for an array task), and SLURM_RESTART_COUNT when it ended. */
  job?: string;
  restarts?: number;
}

/** A record and the checkpoint that holds it. */
export interface StoredRecord {
  seq: number;
  record: TaskRecord;
}

/** Commits `record` as a new checkpoint of the flow's store; returns its sequence number. */
export async function commitRecord(store: Store, lease: Lease, record: TaskRecord): Promise<number> {
  const manifest = await store.commit(lease, {
    step: record.attempt,
    entries: [],
    meta: { [RECORD_META]: record },
    stats: { bytes: 0, writtenBytes: 0, chunks: 0, newChunks: 0 },
    startedAt: performance.now(),
  });
  return manifest.seq;
}

/** The record in checkpoint `seq`, or undefined when it holds none or does not verify. */
export async function readRecord(store: Store, seq: number): Promise<TaskRecord | undefined> {
  try {
    return recordOf((await store.readManifest(seq)).meta);
  } catch (error) {
    if (error instanceof CkptError) return undefined;
    throw error;
  }
}

/**
 * Every record that verifies, oldest first, and the checkpoints passed over (damaged or not a
 * record) with why. A record that does not verify counts as never written.
 */
export async function readRecords(store: Store): Promise<{ records: StoredRecord[]; skipped: string[] }> {
  const records: StoredRecord[] = [];
  const skipped: string[] = [];
  for (const item of await store.scan()) {
    if ('problem' in item) {
      skipped.push(`#${item.seq}: ${item.problem}`);
      continue;
    }
    const record = recordOf(item.manifest.meta);
    if (record) records.push({ seq: item.seq, record });
    else skipped.push(`#${item.seq}: not a task record`);
  }
  return { records, skipped };
}

function recordOf(meta: Record<string, unknown>): TaskRecord | undefined {
  const value = meta[RECORD_META] as Partial<TaskRecord> | undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    value.version !== RECORD_VERSION ||
    typeof value.task !== 'string' ||
    typeof value.key !== 'string' ||
    typeof value.ok !== 'boolean' ||
    typeof value.outputs !== 'object' ||
    value.outputs === null ||
    !Array.isArray(value.components)
  ) {
    return undefined;
  }
  return value as TaskRecord;
}

/** Newest record first, per task. */
export function recordsByTask(records: readonly StoredRecord[]): Map<string, StoredRecord[]> {
  const out = new Map<string, StoredRecord[]>();
  for (const item of [...records].sort((a, b) => b.seq - a.seq)) {
    const list = out.get(item.record.task) ?? [];
    list.push(item);
    out.set(item.record.task, list);
  }
  return out;
}
