import { constants } from 'node:buffer';
import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, FormatError, IntegrityError, UnsafePathError, wrapIoError } from '../errors.js';
import { DIR_MODE, FILE_MODE, fsyncDir, tmpPathFor, writeAll } from './atomic-write.js';
import { type CompressionMode, compressIfWorthIt, decompressInto, maxPackedSize } from './compress.js';
import { sha256Hex } from './hash.js';
import { CHUNKS_DIR, chunkDir, chunkPath } from './layout.js';
import { assertRealDir, describeKind, openStoreFile } from './safe-fs.js';

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
  /** Chunks whose stored copy was damaged (wrong size or bytes) and was written again. */
  repairedChunks: number;
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
  readonly stats: ChunkWriterStats = {
    chunks: 0,
    bytes: 0,
    newChunks: 0,
    writtenBytes: 0,
    repairedChunks: 0,
  };
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
    // NOTE: a file with the chunk's name is reused only when it is the chunk it claims to be:
    // its size always, and its bytes unless this process wrote or verified that very file since
    // (same inode, size and ctime). A rotten chunk is rewritten, never inherited by a new save.
    const dir = chunkDir(this.root, ref.h);
    await this.ensureShard(dir);
    const existing = await inspectChunk(this.root, ref.h, ref.n);
    if (existing.state === 'present') {
      if (
        isTrusted(existing.path, existing.stat) ||
        (await existingMatches(this.root, existing.compressed, ref))
      ) {
        if (existing.compressed) ref.z = 1;
        return;
      }
      this.stats.repairedChunks++;
    } else if (existing.state === 'damaged') {
      this.stats.repairedChunks++;
    }
    const packed = this.compression === 'auto' ? compressIfWorthIt(data) : undefined;
    if (packed) ref.z = 1;
    const path = chunkPath(this.root, ref.h, packed !== undefined);
    if (existing.state !== 'missing') await clearDamaged(this.root, ref.h);
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
    await trustFile(path);
    this.stats.newChunks++;
    this.stats.writtenBytes += (packed ?? data).byteLength;
  }

  /**
   * Creates (once per save) or checks a shard directory. Anything else in its place (a planted
   * symlink, a file, a FIFO) is unlinked, never followed: ckpt never puts such things there.
   */
  private ensureShard(dir: string): Promise<void> {
    let made = this.dirs.get(dir);
    if (!made) {
      // Concurrent writes into one new shard share a single check and mkdir.
      made = (async () => {
        const real = await assertRealDir(dir, 'chunk directory').catch(async (error: unknown) => {
          if (!(error instanceof UnsafePathError)) throw error;
          await fsp.unlink(dir).catch((cause: unknown) => {
            throw wrapIoError(cause, 'removing the foreign entry', dir);
          });
          return false;
        });
        if (real) return;
        const created = await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE }).catch((error: unknown) => {
          throw wrapIoError(error, 'creating chunk directory', dir);
        });
        if (created !== undefined) this.newDirs = true;
      })();
      this.dirs.set(dir, made);
    }
    return made;
  }
}

/** What sits at a chunk's name: nothing, a plausible chunk file, or something that cannot be it. */
export type ChunkInspection =
  | { state: 'missing' }
  | { state: 'present'; path: string; compressed: boolean; stat: Stats }
  | { state: 'damaged'; path: string; problem: string };

/**
 * Looks for a chunk without reading its bytes: a regular file (raw first, then compressed) whose
 * size fits the declared raw size `n`. Shard directories that are not real directories are refused.
 */
export async function inspectChunk(root: string, hash: string, n: number): Promise<ChunkInspection> {
  await assertRealDir(chunkDir(root, hash), 'chunk directory');
  let damaged: ChunkInspection | undefined;
  for (const compressed of [false, true]) {
    const path = chunkPath(root, hash, compressed);
    let stat: Stats;
    try {
      stat = await fsp.lstat(path);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') continue;
      throw wrapIoError(error, 'checking chunk', path);
    }
    const problem = !stat.isFile()
      ? `chunk ${hash} is ${describeKind(stat)}, not a regular file`
      : compressed
        ? stat.size === 0 || stat.size > maxPackedSize(n)
          ? `compressed chunk ${hash} is ${stat.size} bytes, impossible for ${n} raw bytes`
          : undefined
        : stat.size !== n
          ? `chunk ${hash} is ${stat.size} bytes, expected ${n} (truncated or overwritten)`
          : undefined;
    if (!problem) return { state: 'present', path, compressed, stat };
    damaged ??= { state: 'damaged', path, problem };
  }
  return damaged ?? { state: 'missing' };
}

/** Whether the chunk file found for `ref` holds exactly its bytes (read and hashed). */
async function existingMatches(root: string, compressed: boolean, ref: ChunkRef): Promise<boolean> {
  try {
    const stored: ChunkRef = compressed ? { h: ref.h, n: ref.n, z: 1 } : { h: ref.h, n: ref.n };
    await readChunkInto(root, stored, Buffer.allocUnsafe(ref.n));
    return true;
  } catch (error) {
    if (error instanceof IntegrityError) return false;
    throw error;
  }
}

/** Removes whatever damaged thing holds a chunk's names, so a fresh copy can take its place. */
async function clearDamaged(root: string, hash: string): Promise<void> {
  for (const compressed of [false, true]) {
    const path = chunkPath(root, hash, compressed);
    // Inside a shard already checked to be a real directory; rm never follows a symlink.
    await fsp.rm(path, { recursive: true, force: true }).catch((error: unknown) => {
      throw wrapIoError(error, 'removing damaged chunk', path);
    });
    forget(path);
  }
}

/**
 * Reads a chunk into `target` (which must be exactly `ref.n` bytes) and verifies its SHA-256.
 * Throws {@link IntegrityError} for a missing, truncated, oversized, non-regular or corrupt chunk;
 * sizes are checked before anything is read, and decompression never exceeds `ref.n`.
 */
export async function readChunkInto(root: string, ref: ChunkRef, target: Uint8Array): Promise<void> {
  const path = chunkPath(root, ref.h, ref.z === 1);
  if (target.byteLength !== ref.n)
    throw new IntegrityError(`Chunk ${ref.h}: buffer of ${target.byteLength} bytes for ${ref.n}.`);
  let handle: fsp.FileHandle | undefined;
  let stat: Stats;
  try {
    await assertRealDir(chunkDir(root, ref.h), 'chunk directory');
    ({ handle, stat } = await openStoreFile(path, 'chunk'));
    if (ref.z === 1) {
      if (stat.size === 0 || stat.size > maxPackedSize(ref.n)) {
        throw new IntegrityError(
          `Compressed chunk ${ref.h} is ${stat.size} bytes, impossible for ${ref.n} raw bytes.`,
        );
      }
      const packed = Buffer.allocUnsafe(stat.size);
      await readFully(handle, packed);
      decompressInto(packed, target, ref.h);
    } else {
      if (stat.size !== ref.n) {
        throw new IntegrityError(
          `Chunk ${ref.h} is ${stat.size} bytes on disk, expected ${ref.n} (truncated or overwritten).`,
        );
      }
      await readFully(handle, target);
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw withPath(error, path);
    if (errnoCode(error) === 'ENOENT') throw new IntegrityError(`Chunk ${ref.h} is missing (\`${path}\`).`);
    throw wrapIoError(error, 'reading chunk', path);
  } finally {
    await handle?.close().catch(() => {});
  }
  const actual = sha256Hex(target);
  if (actual !== ref.h) {
    forget(path);
    throw new IntegrityError(`Chunk ${ref.h} is corrupt: its content hashes to ${actual} (\`${path}\`).`);
  }
  trust(path, stat);
}

/** Reads exactly `target.byteLength` bytes from the start; a file that shrank is an IntegrityError. */
async function readFully(handle: fsp.FileHandle, target: Uint8Array): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const { bytesRead } = await handle.read(target, done, target.byteLength - done, done);
    if (bytesRead === 0)
      throw new IntegrityError(`chunk file ended after ${done} of ${target.byteLength} bytes`);
    done += bytesRead;
  }
}

function withPath(error: IntegrityError, path: string): IntegrityError {
  return error.message.includes(path) ? error : new IntegrityError(`${error.message} (\`${path}\`)`);
}

/**
 * Chunk files this process wrote or verified, by path, with the identity they had then.
 * NOTE: any write, truncation, rename or chmod changes a file's ctime, and user space cannot set
 * ctime back, so an unchanged (inode, size, ctime) means unchanged bytes short of silent media
 * rot, which `verify --deep` and every restore still catch. Bounded: the oldest are forgotten.
 */
const trusted = new Map<string, string>();
const MAX_TRUSTED = 1 << 18;

function identity(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.ctimeMs}`;
}

function trust(path: string, stat: Stats): void {
  trusted.delete(path);
  trusted.set(path, identity(stat));
  if (trusted.size > MAX_TRUSTED) trusted.delete(trusted.keys().next().value as string);
}

async function trustFile(path: string): Promise<void> {
  const stat = await fsp.lstat(path).catch(() => undefined);
  if (stat?.isFile()) trust(path, stat);
}

function forget(path: string): void {
  trusted.delete(path);
}

function isTrusted(path: string, stat: Stats): boolean {
  return trusted.get(path) === identity(stat);
}

/**
 * Removes a chunk's file, only after checking that its shard is a real directory (so a planted
 * `chunks/aa -> ~/elsewhere` never makes ckpt delete outside the store). Missing is fine.
 */
export async function removeChunkFile(root: string, ref: ChunkRef): Promise<void> {
  const path = chunkPath(root, ref.h, ref.z === 1);
  try {
    if (!(await assertRealDir(chunkDir(root, ref.h), 'chunk directory'))) return;
  } catch {
    return; // a planted shard: nothing of ours is in it; gc reports it
  }
  forget(path);
  // A directory planted under a chunk's name goes too; rm never follows a link inside it.
  await fsp.rm(path, { force: true, recursive: true }).catch((error: unknown) => {
    throw wrapIoError(error, 'removing chunk', path);
  });
}

/**
 * Verifies one chunk: skipped when this process wrote or verified that very file unchanged since
 * (see {@link trusted}), else read and hashed. Throws {@link IntegrityError} like {@link readChunkInto}.
 */
export async function verifyChunk(root: string, ref: ChunkRef, scratch?: Uint8Array): Promise<void> {
  const path = chunkPath(root, ref.h, ref.z === 1);
  const stat = await fsp.lstat(path).catch(() => undefined);
  if (stat?.isFile() && isTrusted(path, stat)) return;
  const target =
    scratch && scratch.byteLength >= ref.n ? scratch.subarray(0, ref.n) : Buffer.allocUnsafe(ref.n);
  await readChunkInto(root, ref, target);
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

/**
 * A zeroed buffer for an entry of `size` bytes, or a {@link FormatError} naming the entry when
 * this process cannot hold it (a declared size is untrusted: 2^40 is refused, not attempted).
 */
export function allocateEntry(size: number, what: string): Uint8Array {
  if (size > constants.MAX_LENGTH) {
    throw new FormatError(
      `${what} declares ${size} bytes, more than one buffer can hold here (${constants.MAX_LENGTH}).`,
      { hint: 'A checkpoint this large cannot be loaded into memory; restore falls back to an older one.' },
    );
  }
  try {
    return new Uint8Array(new ArrayBuffer(size));
  } catch (error) {
    throw new FormatError(`${what} declares ${size} bytes, more than this machine can allocate.`, {
      hint: 'Free memory, or restore on a machine with more memory.',
      cause: error,
    });
  }
}
