import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { CkptError } from '../errors.js';
import { createSlurmHolderProbe } from '../slurm/index.js';
import {
  describeWriter,
  journalEventsOf,
  manifestPath,
  readJournal,
  STORE_ID_FILE,
  Store,
} from '../store/index.js';
import { type JobStatus, readJobStatus } from '../supervisor/index.js';

/** One checkpoint as the views show it. */
export interface CheckpointRow {
  seq: number;
  step: number | null;
  time: string | null;
  /** Bytes of the checkpoint, bytes written anew for it, and how long its commit took. */
  bytes: number | null;
  writtenBytes: number | null;
  durationMs: number | null;
  /** Why it cannot be used (damage, a missing chunk), or null when it can. */
  problem: string | null;
}

/** Everything the report and the dashboard show of one store. */
export interface StoreReport {
  kind: 'store';
  name: string;
  path: string;
  generatedAt: string;
  status: JobStatus;
  /** Who holds the store now, in words. */
  holder: string | null;
  checkpoints: CheckpointRow[];
  /** The checkpoint the next start resumes from (its manifest verifies and its chunks are there). */
  resumeFrom: number | null;
  /** Newer checkpoints passed over, and why. */
  skipped: { seq: number; reason: string }[];
  /** Requeues, signals and takeovers from the journal, as points in time. */
  marks: { time: string; kind: string; detail: string }[];
  warnings: string[];
}

/** A directory of stores (a job array's `store-%a`), each reported. */
export interface DirectoryReport {
  kind: 'directory';
  path: string;
  generatedAt: string;
  jobs: StoreReport[];
}

export type Report = StoreReport | DirectoryReport;

/** Whether `dir` is a ckpt store (it has the store's marker file). */
export async function isStore(dir: string): Promise<boolean> {
  return fsp.lstat(join(dir, STORE_ID_FILE)).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * The report of `path`: a store, or a directory whose subdirectories are stores (a job array's
 * `store-0`, `store-1`…), each reported in name order. Reads only; verifies manifests and that
 * every chunk is there, without reading chunk contents.
 */
export async function readReport(path: string, caches?: Map<string, StoreReportCache>): Promise<Report> {
  const cacheOf = (dir: string): StoreReportCache | undefined => {
    if (!caches) return undefined;
    const cache = caches.get(dir) ?? new StoreReportCache();
    caches.set(dir, cache);
    return cache;
  };
  if (await isStore(path)) return readStoreReport(path, cacheOf(path));
  const jobs: StoreReport[] = [];
  for (const store of await storesUnder(path)) {
    // One damaged store of a job array is a row that says so, not the end of the whole view.
    jobs.push(
      await readStoreReport(store, cacheOf(store)).catch((error: unknown) => {
        if (!(error instanceof CkptError)) throw error;
        return unreadableStore(store, error);
      }),
    );
  }
  return { kind: 'directory', path, generatedAt: new Date().toISOString(), jobs };
}

/** The row of a store in a directory that cannot be read at all, with why and the fix. */
function unreadableStore(path: string, error: CkptError): StoreReport {
  const hint = error.hint ? ` ${error.hint}` : '';
  return {
    kind: 'store',
    name: basename(path),
    path,
    generatedAt: new Date().toISOString(),
    status: {
      state: 'store-unreadable',
      holder: undefined,
      segments: [],
      restarts: 0,
      lastCheckpoint: undefined,
      workLostMs: 0,
      markedFailing: [],
      journal: { events: 0, damagedLines: [], tornTail: false },
    },
    holder: null,
    checkpoints: [],
    resumeFrom: null,
    skipped: [],
    marks: [],
    warnings: [`This store cannot be read: ${error.message}${hint}`],
  };
}

/** `path` itself when it is a store, else its subdirectories that are stores, in name order. */
export async function storesUnder(path: string): Promise<string[]> {
  if (await isStore(path)) return [path];
  const names = (await fsp.readdir(path, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const stores: string[] = [];
  for (const name of names) if (await isStore(join(path, name))) stores.push(join(path, name));
  return stores;
}

/**
 * What the dashboard keeps between two reads of a store: each checkpoint's row, by the identity
 * of its manifest file (size, mtime, inode). A manifest is written once and never changed, so a
 * read after a commit reads the new manifests only. (Chunks lost after a checkpoint was read show
 * in `ckpt verify` and in the next `ckpt report`.)
 */
export class StoreReportCache {
  readonly rows = new Map<number, { stamp: string; row: CheckpointRow; stepKind: string }>();
}

/**
 * Every checkpoint's row, oldest first, and the newest one a restore would use: its manifest
 * verifies and its chunks are all there. Manifests are read one at a time (a store of 10 000
 * checkpoints must not have them all in memory at once), or taken from `cache`.
 */
async function checkpointRows(
  store: Store,
  cache: StoreReportCache | undefined,
): Promise<{
  rows: CheckpointRow[];
  newest: { seq: number; step: number; time: string; stepKind: string } | null;
}> {
  const rows: CheckpointRow[] = [];
  let newest: { seq: number; step: number; time: string; stepKind: string } | null = null;
  const seen = new Set<number>();
  for (const seq of await store.listSeqs()) {
    const stat = await fsp.lstat(manifestPath(store.root, seq)).catch(() => undefined);
    if (!stat) continue; // pruned meanwhile
    seen.add(seq);
    const stamp = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
    let item = cache?.rows.get(seq);
    if (!item || item.stamp !== stamp) {
      const row: CheckpointRow = {
        seq,
        step: null,
        time: null,
        bytes: null,
        writtenBytes: null,
        durationMs: null,
        problem: null,
      };
      let stepKind = 'program';
      try {
        const m = await store.readManifest(seq);
        Object.assign(row, {
          step: m.step,
          time: m.time,
          bytes: m.stats.bytes,
          writtenBytes: m.stats.writtenBytes,
          durationMs: m.stats.durationMs,
          problem: (await store.checkChunksPresent(m)) ?? null,
        });
        stepKind = m.meta.stepKind === 'capture-counter' ? 'capture-counter' : 'program';
      } catch (error) {
        if (!(error instanceof CkptError)) throw error;
        row.problem = error.message;
      }
      item = { stamp, row, stepKind };
      cache?.rows.set(seq, item);
    }
    rows.push(item.row);
    if (item.row.problem === null && item.row.time !== null && item.row.step !== null) {
      newest = { seq, step: item.row.step, time: item.row.time, stepKind: item.stepKind };
    }
  }
  if (cache) for (const seq of cache.rows.keys()) if (!seen.has(seq)) cache.rows.delete(seq);
  return { rows, newest };
}

/** The report of one store (with `cache`, reading only the manifests that are new to it). */
export async function readStoreReport(path: string, cache?: StoreReportCache): Promise<StoreReport> {
  const store = await Store.open(path);
  const { rows: checkpoints, newest } = await checkpointRows(store, cache);
  const status = await readJobStatus(store, {
    holderProbe: createSlurmHolderProbe(),
    newestUsable: newest && {
      seq: newest.seq,
      step: newest.step,
      time: newest.time,
      meta: { stepKind: newest.stepKind },
    },
  });
  const resumeFrom = newest?.seq ?? null;
  const skipped = checkpoints
    .filter((c) => c.problem !== null && (resumeFrom === null || c.seq > resumeFrom))
    .map((c) => ({ seq: c.seq, reason: c.problem! }));
  const { events } = await readJournal(store.root);
  const marks = [
    ...journalEventsOf(events, 'requeue').map((e) => ({
      time: e.time,
      kind: 'requeue',
      detail: `${e.cause}: scontrol requeue ${e.target}${e.ok ? '' : ` failed (${e.error ?? '?'})`}`,
    })),
    ...journalEventsOf(events, 'interruption').map((e) => ({
      time: e.time,
      kind: 'interruption',
      detail: e.kind,
    })),
    ...journalEventsOf(events, 'lease-takeover').map((e) => ({
      time: e.time,
      kind: 'takeover',
      detail: `pid ${e.by.pid} on ${e.by.host} took the lease over from pid ${e.from.pid} on ${e.from.host}`,
    })),
  ].sort((a, b) => a.time.localeCompare(b.time));
  const warnings: string[] = [];
  for (const s of skipped) warnings.push(`Checkpoint #${s.seq} cannot be used: ${s.reason}`);
  for (const f of status.markedFailing)
    warnings.push(`Checkpoint #${f.seq} was given up at ${f.time}: ${f.why}`);
  if (status.journal.damagedLines.length > 0) {
    warnings.push(`The journal has ${status.journal.damagedLines.length} damaged line(s) (passed over).`);
  }
  if (status.journal.unreadable !== undefined) {
    warnings.push(
      `The journal cannot be read, so the job's history is unknown: ${status.journal.unreadable}`,
    );
  }
  if (status.state === 'supervisor-died') warnings.push('ckpt run died without recording an end (killed?).');
  return {
    kind: 'store',
    name: basename(path),
    path,
    generatedAt: new Date().toISOString(),
    status,
    holder: status.holder ? `${describeWriter(status.holder)} (${status.holder.state})` : null,
    checkpoints,
    resumeFrom,
    skipped,
    marks,
    warnings,
  };
}
