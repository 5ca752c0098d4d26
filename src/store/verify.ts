import { CkptError } from '../errors.js';
import { type ChunkRef, chunkHome } from './chunk-read.js';
import { type GcPlan, planGc } from './gc.js';
import { readJournal } from './journal.js';
import { manifestChunks } from './manifest.js';
import { verifyChunks } from './pack-read.js';
import type { Store } from './store.js';

/** How far {@link verifyStore} checks. */
export interface VerifyOptions {
  /** Read and hash every chunk instead of checking presence and size only. */
  deep?: boolean;
  /** Called as chunk bytes are checked (deep only). */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** One checkpoint as {@link verifyStore} found it: `ok`, or the first problem. */
export interface CheckpointVerdict {
  seq: number;
  step?: number;
  ok: boolean;
  problem?: string;
}

/** Everything {@link verifyStore} found, step by step; `damaged` sums it up. */
export interface VerifyReport {
  deep: boolean;
  checkpoints: CheckpointVerdict[];
  /** Temp files of killed writers and unreferenced chunks: harmless, removed by `ckpt gc`. */
  leftovers: { tmpFiles: number; orphanChunks: number; bytes: number };
  /** Rotten chunk files and things ckpt never writes (symlinks, FIFOs) where its files belong; `ckpt gc` removes them. */
  foreign: Array<{ path: string; kind: string }>;
  rotten: Array<{ path: string; why: string }>;
  /** A step that could not run at all (an unreadable directory…), with its error. */
  problems: string[];
  journal: { events: number; damagedLines: number[]; tornLines: number[]; tornTail: boolean };
  /** True when a checkpoint or a journal line is damaged (the CLI exits 3). */
  damaged: boolean;
}

/**
 * Checks a whole store, as an ordered list of steps: manifests (checksum and shape), chunks
 * (presence and size, or with `deep` their SHA-256), the journal, and removable leftovers.
 * Never changes anything.
 */
export async function verifyStore(store: Store, options: VerifyOptions = {}): Promise<VerifyReport> {
  const deep = options.deep ?? false;
  const scanned = await store.scan();
  const verdicts: CheckpointVerdict[] = [];
  const badChunks = deep
    ? await deepCheckChunks(store, scanned, options.onProgress)
    : new Map<string, string>();
  for (const item of scanned) {
    if ('problem' in item) {
      verdicts.push({ seq: item.seq, ok: false, problem: item.problem });
      continue;
    }
    let problem: string | undefined;
    if (deep) {
      const bad = manifestChunks(item.manifest).find((ref) => badChunks.has(placeOf(ref)));
      problem = bad ? badChunks.get(placeOf(bad)) : undefined;
    } else {
      problem = await store.checkChunksPresent(item.manifest);
    }
    verdicts.push({ seq: item.seq, step: item.manifest.step, ok: !problem, ...(problem ? { problem } : {}) });
  }
  const problems: string[] = [];
  const gc = await planGc(store, { deep }).catch((error: unknown): GcPlan | undefined => {
    problems.push(stepProblem('listing leftovers', error));
    return undefined;
  });
  const journal = await readJournal(store.root).catch((error: unknown) => {
    problems.push(stepProblem('reading the journal', error));
    return { events: [], damagedLines: [], tornLines: [], tornTail: false, unreadable: undefined };
  });
  if (journal.unreadable) problems.push(`reading the journal: ${journal.unreadable}`);
  const foreign = gc?.foreign ?? [];
  const rotten = (gc?.rotten ?? []).map(({ path, why }) => ({ path, why }));
  return {
    deep,
    checkpoints: verdicts,
    leftovers: {
      tmpFiles: gc?.tmpFiles.length ?? 0,
      orphanChunks: gc?.chunks.length ?? 0,
      bytes: (gc?.tmpFiles ?? []).concat(gc?.chunks ?? []).reduce((sum, f) => sum + f.size, 0),
    },
    foreign,
    rotten,
    problems,
    journal: {
      events: journal.events.length,
      damagedLines: journal.damagedLines,
      tornLines: journal.tornLines,
      tornTail: journal.tornTail,
    },
    damaged:
      verdicts.some((v) => !v.ok) ||
      journal.damagedLines.length > 0 ||
      foreign.length > 0 ||
      rotten.length > 0 ||
      problems.length > 0,
  };
}

function stepProblem(step: string, error: unknown): string {
  if (error instanceof CkptError) return `${step}: ${error.message}`;
  throw error;
}

async function deepCheckChunks(
  store: Store,
  scanned: Awaited<ReturnType<Store['scan']>>,
  onProgress?: (done: number, total: number) => void,
): Promise<Map<string, string>> {
  const unique = new Map<string, ChunkRef>();
  for (const item of scanned) {
    if ('manifest' in item) for (const ref of manifestChunks(item.manifest)) unique.set(placeOf(ref), ref);
  }
  const refs = [...unique.values()];
  const total = refs.reduce((sum, r) => sum + r.n, 0);
  const bad = new Map<string, string>();
  let done = 0;
  await verifyChunks(store.root, refs, (ref, problem) => {
    if (problem) bad.set(placeOf(ref), problem);
    done += ref.n;
    onProgress?.(done, total);
  });
  return bad;
}

/** One stored copy of a chunk: the same hash may sit in an old damaged copy and a new good one. */
function placeOf(ref: ChunkRef): string {
  return `${chunkHome(ref)}@${ref.o ?? 0}:${ref.h}`;
}
