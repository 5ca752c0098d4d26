import { constants } from 'node:buffer';
import { promises as fsp, type Stats } from 'node:fs';
import { errnoCode, FormatError, IntegrityError, wrapIoError } from '../errors.js';
import { decompressInto, maxPackedSize } from './compress.js';
import { sha256HexAsync } from './hash.js';
import { CHUNKS_DIR, chunkDir, chunkPath, PACKS_DIR, packPath } from './layout.js';
import { assertRealDir, describeKind, openStoreFile } from './safe-fs.js';
import { forget, isTrusted, trust } from './trust.js';

/**
 * A chunk as a manifest lists it: SHA-256 of the raw bytes, raw length, whether stored zstd, and
 * (format v2) the pack holding it, its offset there and, when compressed, its stored length.
 * A reference without `p` names a chunk file of its own (format v1). A file's chunks may carry
 * `x`, the xxh64 of their bytes (16 hex digits): a hint for the next commit of that file, which
 * keeps a chunk whose place still holds bytes of that xxh64 without hashing them (format.md 4.3).
 */
export interface ChunkRef {
  h: string;
  n: number;
  z?: 1;
  p?: string;
  o?: number;
  s?: number;
  x?: string;
}

/** Where and how a chunk is stored, without the hints of the entry it came from (`x`). */
export function storedRef(ref: ChunkRef): ChunkRef {
  const { x: _hint, ...stored } = ref;
  return stored;
}

/**
 * How many chunk writes (and reads) may be in flight at once. libuv runs four at a time; more in
 * the queue keeps its threads busy while the main thread cuts the next chunks.
 */
export const DEFAULT_IO_CONCURRENCY = 8;

/** Where a chunk's bytes live: one key per pack, or per chunk file (what prune and gc free). */
export function chunkHome(ref: ChunkRef): string {
  return ref.p !== undefined ? `${PACKS_DIR}/${ref.p}` : `${CHUNKS_DIR}/${ref.h}${ref.z === 1 ? '.zst' : ''}`;
}

/** The file holding a chunk's bytes. */
export function chunkFilePath(root: string, ref: ChunkRef): string {
  return ref.p !== undefined ? packPath(root, ref.p) : chunkPath(root, ref.h, ref.z === 1);
}

/** The trust key of a chunk: its file, or its place in a pack. */
export function trustKey(path: string, ref: ChunkRef): string {
  return ref.p !== undefined ? `${path}@${ref.o}` : path;
}

/**
 * Why `stat` (of the file {@link chunkFilePath} names) cannot hold the chunk, judged from the size
 * alone; undefined when it can. For a v1 compressed chunk the whole file is the stored bytes.
 */
export function storedSizeProblem(ref: ChunkRef, stat: Stats): string | undefined {
  if (!stat.isFile())
    return `${ref.p ? `pack ${ref.p}` : `chunk ${ref.h}`} is ${describeKind(stat)}, not a regular file`;
  if (ref.p !== undefined) {
    const end = (ref.o ?? 0) + (ref.z === 1 ? (ref.s ?? 0) : ref.n);
    return stat.size < end
      ? `pack ${ref.p} is ${stat.size} bytes, chunk ${ref.h} needs ${end} (truncated)`
      : undefined;
  }
  if (ref.z === 1) {
    return stat.size === 0 || stat.size > maxPackedSize(ref.n)
      ? `compressed chunk ${ref.h} is ${stat.size} bytes, impossible for ${ref.n} raw bytes`
      : undefined;
  }
  return stat.size !== ref.n
    ? `chunk ${ref.h} is ${stat.size} bytes, expected ${ref.n} (truncated or overwritten)`
    : undefined;
}

/** Checks that the directory holding a chunk's file is a real one (never a planted link). */
export async function assertChunkDir(root: string, ref: ChunkRef): Promise<void> {
  if (ref.p !== undefined) await assertRealDir(`${root}/${PACKS_DIR}`, 'pack directory');
  else await assertRealDir(chunkDir(root, ref.h), 'chunk directory');
}

/**
 * Reads a chunk into `target` (which must be exactly `ref.n` bytes) and verifies its SHA-256.
 * Throws {@link IntegrityError} for a missing, truncated, oversized, non-regular or corrupt chunk;
 * sizes are checked before anything is read, and decompression never exceeds `ref.n`.
 */
export async function readChunkInto(root: string, ref: ChunkRef, target: Uint8Array): Promise<void> {
  const path = chunkFilePath(root, ref);
  if (target.byteLength !== ref.n)
    throw new IntegrityError(`Chunk ${ref.h}: buffer of ${target.byteLength} bytes for ${ref.n}.`);
  let handle: fsp.FileHandle | undefined;
  let stat: Stats;
  try {
    await assertChunkDir(root, ref);
    ({ handle, stat } = await openStoreFile(path, ref.p !== undefined ? 'pack' : 'chunk'));
    const problem = storedSizeProblem(ref, stat);
    if (problem) throw new IntegrityError(`${problem[0]!.toUpperCase()}${problem.slice(1)}.`);
    const at = ref.o ?? 0;
    if (ref.z === 1) {
      const packed = Buffer.allocUnsafe(ref.p !== undefined ? ref.s! : stat.size);
      await readFully(handle, packed, at);
      decompressInto(packed, target, ref.h);
    } else {
      await readFully(handle, target, at);
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw withPath(error, path);
    if (errnoCode(error) === 'ENOENT')
      throw new IntegrityError(
        `${ref.p ? `Pack ${ref.p} of chunk ${ref.h}` : `Chunk ${ref.h}`} is missing (\`${path}\`).`,
      );
    throw wrapIoError(error, 'reading chunk', path);
  } finally {
    await handle?.close().catch(() => {});
  }
  await checkHash(target, ref, path, stat);
}

/**
 * Throws {@link IntegrityError} unless `data` (the raw bytes of `ref`, read from `path`) hashes to
 * `ref.h`. A match is trusted at `stat` (trust.ts); a mismatch forgets any earlier trust.
 */
export async function checkHash(data: Uint8Array, ref: ChunkRef, path: string, stat: Stats): Promise<void> {
  const actual = await sha256HexAsync(data);
  const key = trustKey(path, ref);
  if (actual !== ref.h) {
    forget(key);
    throw new IntegrityError(`Chunk ${ref.h} is corrupt: its content hashes to ${actual} (\`${path}\`).`);
  }
  trust(key, stat);
}

/** Reads exactly `target.byteLength` bytes from `at`; a file that ended early is an IntegrityError. */
export async function readFully(handle: fsp.FileHandle, target: Uint8Array, at: number): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const { bytesRead } = await handle.read(target, done, target.byteLength - done, at + done);
    if (bytesRead === 0)
      throw new IntegrityError(`chunk file ended after ${done} of ${target.byteLength} bytes`);
    done += bytesRead;
  }
}

function withPath(error: IntegrityError, path: string): IntegrityError {
  return error.message.includes(path) ? error : new IntegrityError(`${error.message} (\`${path}\`)`);
}

/**
 * Verifies one chunk: skipped when this process wrote or verified it unchanged since (see
 * trust.ts), else read and hashed. Throws {@link IntegrityError} like {@link readChunkInto}.
 */
export async function verifyChunk(root: string, ref: ChunkRef, scratch?: Uint8Array): Promise<void> {
  const path = chunkFilePath(root, ref);
  const stat = await fsp.lstat(path).catch(() => undefined);
  if (
    stat?.isFile() &&
    (isTrusted(trustKey(path, ref), stat) || (ref.p !== undefined && isTrusted(path, stat)))
  )
    return;
  const target =
    scratch && scratch.byteLength >= ref.n ? scratch.subarray(0, ref.n) : Buffer.allocUnsafe(ref.n);
  await readChunkInto(root, ref, target);
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
