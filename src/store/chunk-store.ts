import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, IntegrityError, wrapIoError } from '../errors.js';
import { DIR_MODE, FILE_MODE, fsyncDir, tmpPathFor, writeAll } from './atomic-write.js';
import { type CompressionMode, compressIfWorthIt, decompress } from './compress.js';
import { sha256Hex } from './hash.js';
import { CHUNKS_DIR, chunkDir, chunkPath } from './layout.js';

/** A chunk as a manifest lists it: SHA-256 of the raw bytes, raw length, and whether stored zstd. */
export interface ChunkRef {
  h: string;
  n: number;
  z?: 1;
}

/**
 * How many chunk writes (and reads) may be in flight at once. libuv runs four at a time; more in
 * the queue keeps its threads busy while the main thread hashes.
 */
export const DEFAULT_IO_CONCURRENCY = 8;

export interface ChunkWriterStats {
  chunks: number;
  bytes: number;
  newChunks: number;
  /** Bytes actually written to chunk files (after compression). */
  writtenBytes: number;
}

/**
 * Writes the chunks of one save. `put()` hashes on the calling thread and queues the write, so
 * hashing the next chunk overlaps the I/O of the previous ones. Writing a chunk that already
 * exists is a no-op. `finish()` waits for every write and fsyncs the chunk directories: after
 * it resolves, every chunk is durable and a manifest may name them.
 *
 * The bytes passed to `put()` must not change until `finish()` resolves (no copy is made).
 */
export class ChunkWriter {
  readonly stats: ChunkWriterStats = { chunks: 0, bytes: 0, newChunks: 0, writtenBytes: 0 };
  private readonly inflight = new Set<Promise<void>>();
  private readonly pending = new Map<string, ChunkRef>();
  /** Shard directories this save created or checked, each as the promise of its mkdir. */
  private readonly dirs = new Map<string, Promise<void>>();
  private newDirs = false;
  private failure: unknown;

  constructor(
    private readonly root: string,
    private readonly compression: CompressionMode,
    private readonly concurrency = DEFAULT_IO_CONCURRENCY,
  ) {}

  /** Stores `data` (hashing it unless `knownHash` is given) and returns its reference. */
  async put(data: Uint8Array, knownHash?: string): Promise<ChunkRef> {
    while (this.inflight.size >= this.concurrency) {
      await Promise.race(this.inflight);
    }
    if (this.failure !== undefined) throw this.failure;
    const h = knownHash ?? sha256Hex(data);
    this.stats.chunks++;
    this.stats.bytes += data.byteLength;
    const same = this.pending.get(h);
    if (same) return same;
    const ref: ChunkRef = { h, n: data.byteLength };
    this.pending.set(h, ref);
    const job = this.store(ref, data).then(
      () => {
        this.inflight.delete(job);
      },
      (error: unknown) => {
        this.inflight.delete(job);
        this.failure ??= error;
      },
    );
    this.inflight.add(job);
    return ref;
  }

  /** Waits for all writes, fsyncs the touched chunk directories, and rethrows the first failure. */
  async finish(): Promise<ChunkWriterStats> {
    await Promise.all(this.inflight);
    if (this.failure !== undefined) throw this.failure;
    await Promise.all([...this.dirs.keys()].map((dir) => fsyncDir(dir)));
    // A new shard directory is itself an entry of chunks/: make that durable too.
    if (this.newDirs) await fsyncDir(join(this.root, CHUNKS_DIR));
    return this.stats;
  }

  private async store(ref: ChunkRef, data: Uint8Array): Promise<void> {
    const existing = await findChunk(this.root, ref.h);
    if (existing !== undefined) {
      if (existing) ref.z = 1;
      return;
    }
    const packed = this.compression === 'auto' ? compressIfWorthIt(data) : undefined;
    if (packed) ref.z = 1;
    const dir = chunkDir(this.root, ref.h);
    const path = chunkPath(this.root, ref.h, packed !== undefined);
    let made = this.dirs.get(dir);
    if (!made) {
      // Concurrent writes into one new shard share a single mkdir.
      made = fsp.mkdir(dir, { recursive: true, mode: DIR_MODE }).then(
        (created) => {
          if (created !== undefined) this.newDirs = true;
        },
        (error: unknown) => {
          throw wrapIoError(error, 'creating chunk directory', dir);
        },
      );
      this.dirs.set(dir, made);
    }
    await made;
    const tmp = tmpPathFor(path);
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(tmp, 'wx', FILE_MODE);
      await writeAll(handle, packed ?? data, 0);
      await handle.datasync();
      await handle.close();
      handle = undefined;
      await fsp.rename(tmp, path);
    } catch (error) {
      await handle?.close().catch(() => {});
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw wrapIoError(error, 'writing chunk', path);
    }
    this.stats.newChunks++;
    this.stats.writtenBytes += (packed ?? data).byteLength;
  }
}

/** Whether a chunk is stored: `false` raw, `true` compressed, `undefined` missing. */
export async function findChunk(root: string, hash: string): Promise<boolean | undefined> {
  for (const compressed of [false, true]) {
    try {
      await fsp.access(chunkPath(root, hash, compressed));
      return compressed;
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT')
        throw wrapIoError(error, 'checking chunk', chunkPath(root, hash, compressed));
    }
  }
  return undefined;
}

/**
 * Reads a chunk into `target` (which must be exactly `ref.n` bytes) and verifies its SHA-256.
 * Throws {@link IntegrityError} for a missing, truncated, oversized or corrupt chunk.
 */
export async function readChunkInto(root: string, ref: ChunkRef, target: Uint8Array): Promise<void> {
  const path = chunkPath(root, ref.h, ref.z === 1);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(path, 'r');
    if (ref.z === 1) {
      const packed = await handle.readFile();
      let raw: Buffer;
      try {
        raw = decompress(packed);
      } catch (error) {
        throw new IntegrityError(`Chunk ${ref.h} does not decompress: ${(error as Error).message}.`, {
          cause: error,
        });
      }
      if (raw.byteLength !== ref.n) {
        throw new IntegrityError(
          `Chunk ${ref.h} decompresses to ${raw.byteLength} bytes, expected ${ref.n}.`,
        );
      }
      target.set(raw);
    } else {
      let done = 0;
      while (done < ref.n) {
        const { bytesRead } = await handle.read(target, done, ref.n - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      const extra = await handle.read(Buffer.alloc(1), 0, 1, ref.n);
      if (done !== ref.n || extra.bytesRead !== 0) {
        const { size } = await handle.stat();
        throw new IntegrityError(
          `Chunk ${ref.h} is ${size} bytes on disk, expected ${ref.n} (truncated or overwritten).`,
        );
      }
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw withPath(error, path);
    if (errnoCode(error) === 'ENOENT') throw new IntegrityError(`Chunk ${ref.h} is missing (\`${path}\`).`);
    throw wrapIoError(error, 'reading chunk', path);
  } finally {
    await handle?.close();
  }
  const actual = sha256Hex(target);
  if (actual !== ref.h) {
    throw new IntegrityError(`Chunk ${ref.h} is corrupt: its content hashes to ${actual} (\`${path}\`).`);
  }
}

function withPath(error: IntegrityError, path: string): IntegrityError {
  return error.message.includes(path) ? error : new IntegrityError(`${error.message} (\`${path}\`)`);
}

/** Reads and verifies a whole chunk list into one new buffer of `size` bytes. */
export async function readChunks(
  root: string,
  chunks: readonly ChunkRef[],
  target: Uint8Array,
  concurrency = DEFAULT_IO_CONCURRENCY,
): Promise<void> {
  const expected = chunks.reduce((sum, c) => sum + c.n, 0);
  if (expected !== target.byteLength) {
    throw new IntegrityError(`Chunk list adds up to ${expected} bytes, expected ${target.byteLength}.`);
  }
  let next = 0;
  let offset = 0;
  const offsets = chunks.map((c) => {
    const at = offset;
    offset += c.n;
    return at;
  });
  const worker = async (): Promise<void> => {
    while (next < chunks.length) {
      const i = next++;
      const ref = chunks[i]!;
      const at = offsets[i]!;
      await readChunkInto(root, ref, target.subarray(at, at + ref.n));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
}
