import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, FormatError, wrapIoError } from '../errors.js';
import { fsyncDir } from './atomic-write.js';
import { appendJournal } from './journal.js';
import { CHUNKS_DIR, COMPRESSED_SUFFIX, MANIFESTS_DIR } from './layout.js';
import type { Lease } from './lease.js';
import { manifestChunks } from './manifest.js';
import type { Store } from './store.js';

/** Leftover temp files younger than this may belong to a write in flight on another host. */
export const TMP_GRACE_MS = 60 * 60 * 1000;

export interface GcPlan {
  chunks: Array<{ path: string; size: number }>;
  tmpFiles: Array<{ path: string; size: number }>;
  /** Bytes the plan frees. */
  bytes: number;
  referenced: number;
}

/** `.<name>.<pid>.<8 hex>.tmp` (atomic writes) and `.lease.stale.<pid>.<8 hex>` (lease takeovers). */
const TMP_NAME = /^\.(?:(.+)\.(\d+)\.[0-9a-f]{8}\.tmp|lease\.stale\.(\d+)\.[0-9a-f]{8})$/;

/**
 * Lists what garbage collection would delete: chunks that no manifest references, and temp
 * files left by killed writers (whose pid is dead on this host, or older than {@link TMP_GRACE_MS}).
 * Chunks named by a manifest that fails its checksum cannot be known and may be collected.
 * Run it under the store's lease, so that no save is in flight.
 */
export async function planGc(store: Store): Promise<GcPlan> {
  const referenced = new Set<string>();
  for (const item of await store.scan()) {
    if ('manifest' in item) for (const ref of manifestChunks(item.manifest)) referenced.add(ref.h);
    else if (item.newer) {
      throw new FormatError(
        `Checkpoint #${item.seq} was written by a newer ckpt; gc cannot tell which chunks it uses.`,
        {
          hint: 'Run gc with that newer ckpt version (npm install -g ckpt@latest).',
        },
      );
    }
  }
  const plan: GcPlan = { chunks: [], tmpFiles: [], bytes: 0, referenced: referenced.size };
  const now = Date.now();
  const consider = async (dir: string, name: string, isChunk: boolean): Promise<void> => {
    const path = join(dir, name);
    const tmp = TMP_NAME.exec(name);
    if (tmp) {
      const stat = await fsp.stat(path).catch(() => undefined);
      if (stat && (!pidAlive(Number(tmp[2] ?? tmp[3])) || now - stat.mtimeMs > TMP_GRACE_MS)) {
        plan.tmpFiles.push({ path, size: stat.size });
        plan.bytes += stat.size;
      }
      return;
    }
    if (!isChunk) return;
    const hash = name.endsWith(COMPRESSED_SUFFIX) ? name.slice(0, -COMPRESSED_SUFFIX.length) : name;
    if (referenced.has(hash)) return;
    const stat = await fsp.stat(path).catch(() => undefined);
    if (stat) {
      plan.chunks.push({ path, size: stat.size });
      plan.bytes += stat.size;
    }
  };
  const chunksRoot = join(store.root, CHUNKS_DIR);
  for (const shard of await listDir(chunksRoot)) {
    for (const name of await listDir(join(chunksRoot, shard)))
      await consider(join(chunksRoot, shard), name, true);
  }
  for (const name of await listDir(join(store.root, MANIFESTS_DIR))) {
    await consider(join(store.root, MANIFESTS_DIR), name, false);
  }
  for (const name of await listDir(store.root)) await consider(store.root, name, false);
  return plan;
}

/** Deletes what {@link planGc} listed. Checks the lease first. */
export async function applyGcPlan(store: Store, lease: Lease, plan: GcPlan): Promise<void> {
  await lease.assertHeld();
  const dirs = new Set<string>();
  for (const { path } of [...plan.chunks, ...plan.tmpFiles]) {
    await fsp.rm(path, { force: true }).catch((error: unknown) => {
      throw wrapIoError(error, 'removing', path);
    });
    dirs.add(join(path, '..'));
  }
  await Promise.all([...dirs].map((dir) => fsyncDir(dir)));
  if (plan.chunks.length + plan.tmpFiles.length > 0) {
    await appendJournal(store.root, 'gc', {
      chunks: plan.chunks.length,
      tmpFiles: plan.tmpFiles.length,
      bytes: plan.bytes,
    });
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fsp.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return [];
    throw wrapIoError(error, 'listing', dir);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== 'ESRCH';
  }
}
