import { promises as fsp, type Stats } from 'node:fs';
import { IntegrityError, wrapIoError } from '../errors.js';
import {
  assertChunkDir,
  type ChunkRef,
  chunkFilePath,
  chunkHome,
  DEFAULT_IO_CONCURRENCY,
  readChunkInto,
  storedRef,
  storedSizeProblem,
  trustKey,
} from './chunk-read.js';
import { type CompressionMode, compressIfWorthIt } from './compress.js';
import { sha256HexAsync } from './hash.js';
import { PackWriter } from './pack-writer.js';
import { type ChunkIndex, forget, isTrusted, vouchedFor } from './trust.js';
import { WorkerPool } from './worker-pool.js';

/** What one save stored: all its chunks and bytes, and how many of them it had to write. */
export interface ChunkWriterStats {
  chunks: number;
  bytes: number;
  newChunks: number;
  /** Bytes actually written to pack files (after compression). */
  writtenBytes: number;
  /** Chunks whose stored copy was damaged (wrong size or bytes) and was written again. */
  repairedChunks: number;
}

/** How a {@link ChunkWriter} writes. */
export interface ChunkWriterOptions {
  /** Chunks hashed and written at once (default {@link DEFAULT_IO_CONCURRENCY}). */
  concurrency?: number;
  /** Where the store's committed checkpoints keep each chunk: what a save may reuse. */
  index?: ChunkIndex;
}

/**
 * Writes the chunks of one save. `add()` queues a chunk: it is hashed on the thread pool (several
 * at once, on every core) and, unless a committed checkpoint already holds it intact, appended to
 * this save's pack files while the caller goes on cutting the next ones. `finish()` waits for
 * every write and makes the packs durable: after it resolves, a manifest may name the chunks.
 *
 * The bytes passed to `add()` must not change until `finish()` resolves (no copy is made).
 */
export class ChunkWriter {
  readonly stats: ChunkWriterStats = {
    chunks: 0,
    bytes: 0,
    newChunks: 0,
    writtenBytes: 0,
    repairedChunks: 0,
  };
  private readonly pool: WorkerPool;
  private readonly pending = new Map<string, Promise<ChunkRef>>();
  private readonly packs: PackWriter;
  /** lstat of each file a reused chunk lives in, once per save. */
  private readonly fileStats = new Map<string, Promise<Stats | undefined>>();
  private failure: unknown;

  constructor(
    private readonly root: string,
    private readonly compression: CompressionMode,
    private readonly options: ChunkWriterOptions = {},
  ) {
    this.packs = new PackWriter(root);
    this.pool = new WorkerPool(options.concurrency ?? DEFAULT_IO_CONCURRENCY);
  }

  /**
   * Queues `data` for storing (hashing it unless `knownHash` is given). Resolves to its reference
   * once it is written or found intact in the store; it is durable after {@link finish}.
   */
  add(data: Uint8Array, knownHash?: string): Promise<ChunkRef> {
    this.stats.chunks++;
    this.stats.bytes += data.byteLength;
    const ref = this.pool.run(() =>
      this.run(data, knownHash).catch((error: unknown) => {
        // Recorded before the slot frees, so a caller woken in ready() sees it.
        this.failure ??= error;
        throw error;
      }),
    );
    // A failure also reaches finish(); a caller that stopped listening must not crash the process.
    ref.catch(() => {});
    return ref;
  }

  /** {@link add} one chunk after waiting for a free slot ({@link ready}): for callers going one by one. */
  async put(data: Uint8Array, knownHash?: string): Promise<ChunkRef> {
    await this.ready();
    return this.add(data, knownHash);
  }

  /**
   * Counts `refs` (a previous checkpoint's chunk list) into this save without their bytes if every
   * one is stored intact without reading it: its file present with room for it, and written or
   * verified by this process, or vouched for by a committed checkpoint since it last changed.
   * False when any is not: then the caller reads the data and adds it.
   */
  async reuse(refs: readonly ChunkRef[]): Promise<boolean> {
    for (const ref of refs) {
      const known = this.options.index?.get(ref.h);
      const here = known && chunkHome(known.ref) === chunkHome(ref) && known.ref.o === ref.o;
      if ((await this.reusable(ref, here ? known.since : undefined, false)) !== 'intact') return false;
    }
    for (const ref of refs) {
      this.stats.chunks++;
      this.stats.bytes += ref.n;
    }
    return true;
  }

  /** Resolves once no chunk waits for a slot: lets a reader of a file keep pace without piling up. */
  async ready(): Promise<void> {
    while (this.failure === undefined && this.pool.full) await this.pool.freed();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for all writes, makes the packs durable, and rethrows the first failure. */
  async finish(): Promise<ChunkWriterStats> {
    await this.pool.drain();
    if (this.failure === undefined) {
      await this.packs.finish().catch((error: unknown) => {
        this.failure = error;
      });
    }
    if (this.failure !== undefined) {
      // Nothing names this save's packs yet: a full disk keeps no half-written pack.
      await this.packs.discard();
      throw this.failure;
    }
    return this.stats;
  }

  /**
   * After a save that failed before its manifest: waits for the writes under way, then removes
   * the packs this save wrote (no manifest names them), instead of leaving them for `ckpt gc`.
   */
  async abandon(): Promise<void> {
    await this.pool.drain();
    await this.packs.discard();
  }

  private async run(data: Uint8Array, knownHash: string | undefined): Promise<ChunkRef> {
    if (this.failure !== undefined) throw this.failure;
    const h = knownHash ?? (await sha256HexAsync(data));
    let same = this.pending.get(h);
    if (!same) {
      same = this.store({ h, n: data.byteLength }, data);
      this.pending.set(h, same);
    }
    return same;
  }

  private async store(ref: ChunkRef, data: Uint8Array): Promise<ChunkRef> {
    const known = this.options.index?.get(ref.h);
    if (known && known.ref.n === ref.n) {
      const verdict = await this.reusable(known.ref, known.since);
      if (verdict === 'intact') return storedRef(known.ref);
      this.stats.repairedChunks++;
    }
    const packed = this.compression === 'auto' ? compressIfWorthIt(data) : undefined;
    const stored = packed ?? data;
    const { p, o } = await this.packs.append(stored);
    this.stats.newChunks++;
    this.stats.writtenBytes += stored.byteLength;
    return packed ? { ...ref, z: 1, p, o, s: packed.byteLength } : { ...ref, p, o };
  }

  /**
   * Whether a chunk a committed checkpoint holds is still the chunk it claims to be: its file's
   * size always, and its bytes unless this process wrote or verified it since, or its file has not
   * changed since a checkpoint naming it was committed ({@link vouchedFor}). A rotten chunk is
   * written again, never inherited by a new save.
   */
  private async reusable(
    ref: ChunkRef,
    since: number | undefined,
    read = true,
  ): Promise<'intact' | 'damaged' | 'unknown'> {
    const path = chunkFilePath(this.root, ref);
    let stat = this.fileStats.get(path);
    if (!stat) {
      stat = assertChunkDir(this.root, ref).then(
        () => fsp.lstat(path).catch(() => undefined),
        () => undefined,
      );
      this.fileStats.set(path, stat);
    }
    const found = await stat;
    if (!found || storedSizeProblem(ref, found)) return 'damaged';
    if (isTrusted(trustKey(path, ref), found) || isTrusted(path, found) || vouchedFor(since, found))
      return 'intact';
    if (!read) return 'unknown';
    try {
      await readChunkInto(this.root, ref, Buffer.allocUnsafe(ref.n));
      return 'intact';
    } catch (error) {
      if (error instanceof IntegrityError) return 'damaged';
      throw error;
    }
  }
}

/**
 * Removes the file holding a chunk (a v1 chunk file, or a whole pack once nothing names it), only
 * after checking that its directory is a real one (so a planted `chunks/aa -> ~/elsewhere` never
 * makes ckpt delete outside the store). Missing is fine.
 */
export async function removeChunkFile(root: string, ref: ChunkRef): Promise<void> {
  const path = chunkFilePath(root, ref);
  try {
    await assertChunkDir(root, ref);
  } catch {
    return; // a planted directory: nothing of ours is in it; gc reports it
  }
  forget(path);
  // A directory planted under a chunk's name goes too; rm never follows a link inside it.
  await fsp.rm(path, { force: true, recursive: true }).catch((error: unknown) => {
    throw wrapIoError(error, 'removing chunk', path);
  });
}
