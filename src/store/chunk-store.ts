import { constants } from 'node:buffer';
import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, FormatError, IntegrityError, UnsafePathError, wrapIoError } from '../errors.js';
import { DIR_MODE, FILE_MODE, fsyncDir, tmpPathFor, writeAll } from './atomic-write.js';
import { type CompressionMode, compressIfWorthIt, decompressInto, maxPackedSize } from './compress.js';
import { sha256HexAsync } from './hash.js';
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
 * When each chunk was last vouched for by a committed checkpoint: chunk hash → the newest
 * modification time of a manifest naming it (see {@link Store.chunkTrust}). A chunk file whose
 * ctime is older than that has not changed since a checkpoint verified it, so a new process
 * reuses it without reading it again.
 */
export type ChunkTrust = ReadonlyMap<string, number>;

export interface ChunkWriterOptions {
  concurrency?: number;
  trust?: ChunkTrust;
}

/**
 * Writes the chunks of one save. `add()` queues a chunk: it is hashed on the thread pool (several
 * at once, on every core) and written while the caller goes on cutting the next ones. Writing a
 * chunk that already exists is a no-op. `finish()` waits for every write and fsyncs the chunk
 * directories: after it resolves, every chunk is durable and a manifest may name them.
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
  private readonly jobs = new Set<Promise<void>>();
  private readonly queue: Array<() => void> = [];
  private readonly waiting: Array<() => void> = [];
  private active = 0;
  private readonly pending = new Map<string, ChunkRef>();
  /** Shard directories this save created or checked, each as the promise of its mkdir. */
  private readonly dirs = new Map<string, Promise<void>>();
  private newDirs = false;
  private failure: unknown;

  constructor(
    private readonly root: string,
    private readonly compression: CompressionMode,
    private readonly options: ChunkWriterOptions = {},
  ) {}

  private get concurrency(): number {
    return this.options.concurrency ?? DEFAULT_IO_CONCURRENCY;
  }

  /**
   * Queues `data` for storing (hashing it unless `knownHash` is given). Resolves to its reference
   * as soon as its hash is known; the write goes on until {@link finish}.
   */
  add(data: Uint8Array, knownHash?: string): Promise<ChunkRef> {
    this.stats.chunks++;
    this.stats.bytes += data.byteLength;
    const ref = new Promise<ChunkRef>((resolve, reject) => {
      const run = (): void => {
        this.active++;
        const job: Promise<void> = this.run(data, knownHash, resolve).then(
          () => this.release(job),
          (error: unknown) => {
            this.failure ??= error;
            reject(error);
            this.release(job);
          },
        );
        this.jobs.add(job);
      };
      if (this.active < this.concurrency) run();
      else this.queue.push(run);
    });
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
   * Counts `refs` into this save without their bytes if every one is stored intact (its file
   * present with the right size, and written or verified by this process or vouched for by a
   * committed checkpoint since it last changed). False when any is not: then read the data.
   */
  async reuse(refs: readonly ChunkRef[]): Promise<boolean> {
    for (const ref of refs) {
      const found = await inspectChunk(this.root, ref.h, ref.n).catch(() => undefined);
      if (found?.state !== 'present' || found.compressed !== (ref.z === 1)) return false;
      if (!isTrusted(found.path, found.stat) && !vouchedFor(this.options.trust, ref.h, found.stat))
        return false;
    }
    for (const ref of refs) {
      this.stats.chunks++;
      this.stats.bytes += ref.n;
    }
    return true;
  }

  /** Resolves once no chunk waits for a slot: lets a reader of a file keep pace without piling up. */
  async ready(): Promise<void> {
    while (this.failure === undefined && (this.queue.length > 0 || this.active >= this.concurrency)) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for all writes, fsyncs the touched chunk directories, and rethrows the first failure. */
  async finish(): Promise<ChunkWriterStats> {
    while (this.jobs.size > 0) await Promise.allSettled([...this.jobs]);
    if (this.failure !== undefined) throw this.failure;
    await Promise.all([...this.dirs.keys()].map((dir) => fsyncDir(dir)));
    // A new shard directory is itself an entry of chunks/: make that durable too.
    if (this.newDirs) await fsyncDir(join(this.root, CHUNKS_DIR));
    return this.stats;
  }

  private release(job: Promise<void>): void {
    this.jobs.delete(job);
    this.active--;
    this.queue.shift()?.();
    for (const wake of this.waiting.splice(0)) wake();
  }

  private async run(
    data: Uint8Array,
    knownHash: string | undefined,
    resolve: (ref: ChunkRef) => void,
  ): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const h = knownHash ?? (await sha256HexAsync(data));
    const same = this.pending.get(h);
    if (same) {
      resolve(same);
      return;
    }
    const ref: ChunkRef = { h, n: data.byteLength };
    this.pending.set(h, ref);
    resolve(ref);
    await this.store(ref, data);
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
        vouchedFor(this.options.trust, ref.h, existing.stat) ||
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
  const actual = await sha256HexAsync(target);
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

/** Whether a committed checkpoint vouched for this chunk after its file last changed. */
function vouchedFor(trust: ChunkTrust | undefined, hash: string, stat: Stats): boolean {
  const since = trust?.get(hash);
  // Strictly older: a chunk changed in the same clock tick as the manifest was written is read.
  return since !== undefined && stat.ctimeMs < since;
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

/** Runs `work` over `items` with at most `concurrency` at once; the first failure stops the rest. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        await work(items[i]!, i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Reads and verifies a whole chunk list into `target`, several chunks at once. */
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
  let offset = 0;
  const offsets = chunks.map((c) => {
    const at = offset;
    offset += c.n;
    return at;
  });
  await forEachConcurrently(chunks, concurrency, (ref, i) =>
    readChunkInto(root, ref, target.subarray(offsets[i]!, offsets[i]! + ref.n)),
  );
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
