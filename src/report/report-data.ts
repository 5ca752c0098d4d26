import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { createSlurmHolderProbe } from '../slurm/index.js';
import { describeWriter, journalEventsOf, readJournal, STORE_ID_FILE, Store } from '../store/index.js';
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
export async function readReport(path: string): Promise<Report> {
  if (await isStore(path)) return readStoreReport(path);
  const jobs: StoreReport[] = [];
  for (const store of await storesUnder(path)) jobs.push(await readStoreReport(store));
  return { kind: 'directory', path, generatedAt: new Date().toISOString(), jobs };
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

/** The report of one store. */
export async function readStoreReport(path: string): Promise<StoreReport> {
  const store = await Store.open(path);
  const status = await readJobStatus(store, { holderProbe: createSlurmHolderProbe() });
  const health = await store.health();
  const checkpoints = health.map(
    (h): CheckpointRow => ({
      seq: h.seq,
      step: h.manifest?.step ?? null,
      time: h.manifest?.time ?? null,
      bytes: h.manifest?.stats.bytes ?? null,
      writtenBytes: h.manifest?.stats.writtenBytes ?? null,
      durationMs: h.manifest?.stats.durationMs ?? null,
      problem: h.problem ?? (h.manifest ? null : 'unreadable'),
    }),
  );
  const usable = checkpoints.filter((c) => c.problem === null);
  const resumeFrom = usable.at(-1)?.seq ?? null;
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
