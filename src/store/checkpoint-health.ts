import { constants } from 'node:buffer';
import { promises as fsp, type Stats } from 'node:fs';
import { CkptError, errnoCode, wrapIoError } from '../errors.js';
import { assertChunkDir, type ChunkRef, chunkFilePath, storedSizeProblem } from './chunk-read.js';
import { type Manifest, manifestChunks } from './manifest.js';
import { firstChunkProblem } from './pack-read.js';
import type { Store } from './store.js';

/** A value's arrays are loaded whole: larger blobs cannot be restored in this process. */
const MAX_BUFFER_BYTES = constants.MAX_LENGTH;

/** Why a checkpoint was passed over. */
export interface SkippedCheckpoint {
  seq: number;
  reason: string;
}

/**
 * What a reader knows of one checkpoint: its manifest when that parses, and why it cannot be
 * restored when it cannot. `verified` says how far its chunks were checked: `shallow` (each present
 * as a regular file of the recorded size) or `deep` (every byte hashed).
 */
export interface CheckpointHealth {
  seq: number;
  manifest: Manifest | undefined;
  problem: string | undefined;
  /** Written by a newer ckpt: not damaged, never removed. */
  newer: boolean;
  verified: 'none' | 'shallow' | 'deep';
}

/**
 * Checks that every chunk of `manifest` is present under `root`, as a regular file of a size its
 * declared length allows, without reading the bytes. Returns the first problem, or undefined.
 */
export async function checkChunksPresent(root: string, manifest: Manifest): Promise<string | undefined> {
  const seen = new Set<string>();
  const stats = new Map<string, Promise<Stats>>();
  for (const ref of manifestChunks(manifest)) {
    if (seen.has(ref.h)) continue;
    seen.add(ref.h);
    const problem = await chunkProblem(root, ref, stats);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Reads and hashes every chunk of `manifest` (chunks this process wrote or verified unchanged
 * since are not read again). Returns the first problem, or undefined.
 */
export async function checkChunksDeep(root: string, manifest: Manifest): Promise<string | undefined> {
  const huge = manifest.entries.find((e) => e.type === 'blob' && e.size > MAX_BUFFER_BYTES);
  if (huge?.type === 'blob')
    return `entry \`${huge.key}\` declares ${huge.size} bytes, more than one buffer can hold`;
  const unique = new Map<string, ChunkRef>();
  for (const ref of manifestChunks(manifest)) unique.set(ref.h, ref);
  return firstChunkProblem(root, [...unique.values()]);
}

/**
 * The health of every checkpoint of `store`, oldest first: what restore would find (see
 * {@link Store.health}).
 */
export async function storeHealth(
  store: Store,
  options: { deepFirst?: boolean } = {},
): Promise<CheckpointHealth[]> {
  const out: CheckpointHealth[] = [];
  for (const item of await store.scan()) {
    if ('problem' in item) {
      out.push({
        seq: item.seq,
        manifest: undefined,
        problem: item.problem,
        newer: item.newer,
        verified: 'none',
      });
      continue;
    }
    const problem = await checkChunksPresent(store.root, item.manifest);
    if (problem && !(await store.exists(item.seq))) continue;
    out.push({ seq: item.seq, manifest: item.manifest, problem, newer: false, verified: 'shallow' });
  }
  if (options.deepFirst) {
    for (const item of [...out].reverse()) {
      if (item.problem || !item.manifest) continue;
      item.problem = await checkChunksDeep(store.root, item.manifest);
      item.verified = 'deep';
      if (!item.problem) break;
    }
  }
  return out;
}

/**
 * Why one chunk reference cannot be read, judged from lstat alone; undefined when it looks right.
 * `stats` caches the lstat of each pack for one manifest.
 */
async function chunkProblem(
  root: string,
  ref: ChunkRef,
  stats: Map<string, Promise<Stats>>,
): Promise<string | undefined> {
  const path = chunkFilePath(root, ref);
  try {
    await assertChunkDir(root, ref);
    let stat = stats.get(path);
    if (!stat) {
      stat = fsp.lstat(path);
      stats.set(path, stat);
    }
    return storedSizeProblem(ref, await stat);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT')
      return ref.p !== undefined ? `pack ${ref.p} of chunk ${ref.h} is missing` : `chunk ${ref.h} is missing`;
    if (error instanceof CkptError) return error.message;
    return wrapIoError(error, 'checking chunk', path).message;
  }
}
