import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { CkptError, errnoCode, wrapIoError } from '../errors.js';
import { fsyncDir } from './atomic-write.js';
import { type ChunkRef, storedSizeProblem, verifyChunk } from './chunk-read.js';
import { maxPackedSize } from './compress.js';
import { noteJournal } from './journal.js';
import { CHUNKS_DIR, MANIFESTS_DIR, PACKS_DIR } from './layout.js';
import type { Lease } from './lease.js';
import { manifestChunks } from './manifest.js';
import { verifyChunks } from './pack-read.js';
import { listStagedRounds } from './rank-parts.js';
import { describeKind } from './safe-fs.js';
import type { Store } from './store.js';

/** Leftover temp files younger than this may belong to a write in flight on another host. */
export const TMP_GRACE_MS = 60 * 60 * 1000;

/** What {@link planGc} found to remove or mark, for {@link applyGcPlan}. */
export interface GcPlan {
  chunks: Array<{ path: string; size: number }>;
  tmpFiles: Array<{ path: string; size: number }>;
  /** Chunk files that cannot be the chunk they are named for: removed so the next save writes them again. */
  rotten: Array<{ path: string; size: number; why: string }>;
  /**
   * Packs holding a damaged chunk: kept (their other chunks are good) but marked, so the next save
   * reads such a chunk before reusing it and writes it again.
   */
  damagedPacks: Array<{ path: string; why: string }>;
  /** Symlinks, FIFOs and other things ckpt never writes, where its files belong: unlinked, never followed. */
  foreign: Array<{ path: string; kind: string }>;
  /** Directories of multi-rank commits that ended 10 minutes ago or were abandoned (`staging/…`): removed. */
  rounds: string[];
  /** Why unreferenced chunks are left alone (a manifest this version cannot read), if they are. */
  blockedBy: string | undefined;
  /** Bytes the plan frees. */
  bytes: number;
  referenced: number;
}

/** How far {@link planGc} checks. */
export interface GcOptions {
  /** Also read and hash every referenced chunk, so rotten ones with the right size are found too. */
  deep?: boolean;
}

/** `.<name>.<pid>.<8 hex>.tmp` (atomic writes) and `.lease.stale.<pid>.<8 hex>` (lease takeovers). */
const TMP_NAME = /^\.(?:(.+)\.(\d+)\.[0-9a-f]{8}\.tmp|lease\.stale\.(\d+)\.[0-9a-f]{8})$/;
const CHUNK_NAME = /^([0-9a-f]{64})(\.zst)?$/;
const SHARD_NAME = /^[0-9a-f]{2}$/;
const PACK_NAME = /^([0-9a-f]{32})\.pack$/;

/**
 * Lists what garbage collection would delete: chunks that no manifest references, temp files
 * left by killed writers (whose pid is dead on this host, or older than {@link TMP_GRACE_MS}),
 * rotten chunk files (wrong size or kind; with `deep`, wrong bytes), and foreign entries in
 * `chunks/` (a symlinked shard is listed, never entered). Chunks named by a manifest that fails
 * its checksum cannot be known and may be collected; a manifest of a newer format blocks chunk
 * collection ({@link GcPlan.blockedBy}). Run it under the store's lease, so no save is in flight.
 */
export async function planGc(store: Store, options: GcOptions = {}): Promise<GcPlan> {
  const referenced = new Map<string, ChunkRef>();
  const packRefs = new Map<string, Map<string, ChunkRef>>();
  const reference = (ref: ChunkRef) => {
    if (ref.p === undefined) referenced.set(ref.h, ref);
    else {
      const refs = packRefs.get(ref.p) ?? new Map<string, ChunkRef>();
      packRefs.set(ref.p, refs);
      refs.set(`${ref.h}@${ref.o}`, ref);
    }
  };
  let blockedBy: string | undefined;
  for (const item of await store.scan()) {
    if ('manifest' in item) {
      for (const ref of manifestChunks(item.manifest)) reference(ref);
    } else if (item.newer) {
      blockedBy ??= `checkpoint #${item.seq} was written by a newer ckpt, so which chunks it uses is unknown`;
    }
  }
  // The parts of a multi-rank commit in flight name chunks that no manifest names yet.
  const rounds: string[] = [];
  for (const round of await listStagedRounds(store.root)) {
    if (round.removable) rounds.push(round.path);
    for (const ref of round.chunks) reference(ref);
  }
  const plan: GcPlan = {
    rounds,
    chunks: [],
    tmpFiles: [],
    rotten: [],
    damagedPacks: [],
    foreign: [],
    blockedBy,
    bytes: 0,
    referenced: referenced.size + [...packRefs.values()].reduce((sum, refs) => sum + refs.size, 0),
  };
  const now = Date.now();
  const considerTmp = (path: string, name: string, stat: Stats): boolean => {
    const tmp = TMP_NAME.exec(name);
    if (!tmp) return false;
    if (stat.isFile() && (!pidAlive(Number(tmp[2] ?? tmp[3])) || now - stat.mtimeMs > TMP_GRACE_MS)) {
      plan.tmpFiles.push({ path, size: stat.size });
      plan.bytes += stat.size;
    }
    return true;
  };
  const chunksRoot = join(store.root, CHUNKS_DIR);
  for (const [shard, shardStat] of await listDir(chunksRoot)) {
    const shardPath = join(chunksRoot, shard);
    if (!shardStat.isDirectory()) {
      if (!considerTmp(shardPath, shard, shardStat))
        plan.foreign.push({ path: shardPath, kind: describeKind(shardStat) });
      continue;
    }
    if (!SHARD_NAME.test(shard)) continue;
    for (const [name, stat] of await listDir(shardPath)) {
      const path = join(shardPath, name);
      if (considerTmp(path, name, stat)) continue;
      const match = CHUNK_NAME.exec(name);
      if (!match) continue;
      if (!stat.isFile()) {
        plan.foreign.push({ path, kind: describeKind(stat) });
        continue;
      }
      const ref = referenced.get(match[1]!);
      if (!ref) {
        if (blockedBy === undefined) {
          plan.chunks.push({ path, size: stat.size });
          plan.bytes += stat.size;
        }
        continue;
      }
      const why = await chunkFileProblem(
        store.root,
        ref,
        match[2] !== undefined,
        stat,
        options.deep ?? false,
      );
      if (why) {
        plan.rotten.push({ path, size: stat.size, why });
        plan.bytes += stat.size;
      }
    }
  }
  const packsRoot = join(store.root, PACKS_DIR);
  const deepPacks = new Map<string, { path: string; refs: ChunkRef[] }>();
  const packsStat = await fsp.lstat(packsRoot).catch(() => undefined);
  if (packsStat && !packsStat.isDirectory())
    plan.foreign.push({ path: packsRoot, kind: describeKind(packsStat) });
  for (const [name, stat] of packsStat?.isDirectory() ? await listDir(packsRoot) : []) {
    const path = join(packsRoot, name);
    if (considerTmp(path, name, stat)) continue;
    const match = PACK_NAME.exec(name);
    if (!match) continue;
    if (!stat.isFile()) {
      plan.foreign.push({ path, kind: describeKind(stat) });
      continue;
    }
    const refs = packRefs.get(match[1]!);
    if (!refs) {
      if (blockedBy === undefined) {
        plan.chunks.push({ path, size: stat.size });
        plan.bytes += stat.size;
      }
      continue;
    }
    const why = [...refs.values()].map((ref) => storedSizeProblem(ref, stat)).find((p) => p !== undefined);
    if (why) plan.damagedPacks.push({ path, why });
    else if (options.deep) deepPacks.set(match[1]!, { path, refs: [...refs.values()] });
  }
  // With --deep, every chunk of the packs that passed the size check is read and hashed, all
  // packs in one pass (several at once, each in large sequential reads).
  const deepProblems = new Map<string, string>();
  await verifyChunks(
    store.root,
    [...deepPacks.values()].flatMap((pack) => pack.refs),
    (ref, problem) => {
      if (problem && !deepProblems.has(ref.p!)) deepProblems.set(ref.p!, problem);
    },
  );
  for (const [id, why] of deepProblems) plan.damagedPacks.push({ path: deepPacks.get(id)!.path, why });
  for (const dir of [join(store.root, MANIFESTS_DIR), store.root]) {
    for (const [name, stat] of await listDir(dir)) considerTmp(join(dir, name), name, stat);
  }
  return plan;
}

async function chunkFileProblem(
  root: string,
  ref: ChunkRef,
  compressed: boolean,
  stat: Stats,
  deep: boolean,
): Promise<string | undefined> {
  if (compressed ? stat.size === 0 || stat.size > maxPackedSize(ref.n) : stat.size !== ref.n) {
    return `${stat.size} bytes on disk for ${ref.n} declared`;
  }
  if (!deep) return undefined;
  try {
    await verifyChunk(root, compressed ? { h: ref.h, n: ref.n, z: 1 } : { h: ref.h, n: ref.n });
    return undefined;
  } catch (error) {
    if (error instanceof CkptError) return error.message;
    throw error;
  }
}

/** Deletes what {@link planGc} listed. Checks the lease first. */
export async function applyGcPlan(store: Store, lease: Lease, plan: GcPlan): Promise<void> {
  await lease.assertHeld();
  const dirs = new Set<string>();
  // Every path was listed from a real directory inside the store; unlink removes a foreign
  // symlink itself, never what it points to.
  for (const { path } of [...plan.chunks, ...plan.tmpFiles, ...plan.rotten, ...plan.foreign]) {
    await fsp.unlink(path).catch((error: unknown) => {
      if (errnoCode(error) === 'ENOENT') return;
      if (errnoCode(error) === 'EISDIR' || errnoCode(error) === 'EPERM')
        return fsp.rm(path, { recursive: true, force: true });
      throw wrapIoError(error, 'removing', path);
    });
    dirs.add(join(path, '..'));
  }
  await Promise.all([...dirs].map((dir) => fsyncDir(dir)));
  // Real directories inside the real staging directory (listed with lstat); rm never follows a link.
  for (const path of plan.rounds) await fsp.rm(path, { recursive: true, force: true });
  // chmod to the same mode changes only the ctime: the pack is no longer vouched for, so the next
  // save reads a chunk from it before reusing it (trust.ts), and writes a damaged one again.
  for (const { path } of plan.damagedPacks) {
    const stat = await fsp.lstat(path).catch(() => undefined);
    if (stat?.isFile()) await fsp.chmod(path, stat.mode & 0o7777).catch(() => {});
  }
  const removed =
    plan.chunks.length + plan.tmpFiles.length + plan.rotten.length + plan.foreign.length + plan.rounds.length;
  if (removed > 0) {
    await noteJournal(store, 'gc', {
      chunks: plan.chunks.length,
      tmpFiles: plan.tmpFiles.length,
      rotten: plan.rotten.length,
      foreign: plan.foreign.length,
      rounds: plan.rounds.length,
      bytes: plan.bytes,
    });
  }
}

/** Entries of a directory with their lstat (never following a link); a missing one is empty. */
async function listDir(dir: string): Promise<Array<[string, Stats]>> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return [];
    throw wrapIoError(error, 'listing', dir);
  }
  const out: Array<[string, Stats]> = [];
  for (const name of names.sort()) {
    const stat = await fsp.lstat(join(dir, name)).catch(() => undefined);
    if (stat) out.push([name, stat]);
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) !== 'ESRCH';
  }
}
