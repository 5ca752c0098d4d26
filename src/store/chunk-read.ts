import { constants } from 'node:buffer';
import { promises as fsp, type Stats } from 'node:fs';
import { CkptError, errnoCode, FormatError, IntegrityError, wrapIoError } from '../errors.js';
import { decompressInto, maxPackedSize } from './compress.js';
import { sha256HexAsync } from './hash.js';
import { CHUNKS_DIR, chunkDir, chunkPath, PACKS_DIR, packPath } from './layout.js';
import { assertRealDir, describeKind, openStoreFile } from './safe-fs.js';
import { forget, isTrusted, trust } from './trust.js';

/**
 * A chunk as a manifest lists it: SHA-256 of the raw bytes, raw length, whether stored zstd, and
 * (format v2) the pack holding it, its offset there and, when compressed, its stored length.
 * A reference without `p` names a chunk file of its own (format v1).
 */
export interface ChunkRef {
  h: string;
  n: number;
  z?: 1;
  p?: string;
  o?: number;
  s?: number;
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
  const actual = await sha256HexAsync(target);
  const key = trustKey(path, ref);
  if (actual !== ref.h) {
    forget(key);
    throw new IntegrityError(`Chunk ${ref.h} is corrupt: its content hashes to ${actual} (\`${path}\`).`);
  }
  trust(key, stat);
}

/** Reads exactly `target.byteLength` bytes from `at`; a file that ended early is an IntegrityError. */
async function readFully(handle: fsp.FileHandle, target: Uint8Array, at: number): Promise<void> {
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

/** Adjacent chunks of one pack read with a single read, up to this many bytes. */
const RUN_BYTES = 8 << 20;

/** What to do with each verified chunk; `bytes` is valid only until the returned promise settles. */
export type ChunkSink = (ref: ChunkRef, index: number, bytes: Uint8Array) => void | Promise<void>;

/**
 * Reads and verifies many chunks the fast way, for restores and deep checks: each pack's chunks in
 * offset order, in single reads of adjacent chunks up to {@link RUN_BYTES}, several packs at once
 * and the next read under way while the last one is hashed; format 1 chunk files one by one.
 * Every chunk's SHA-256 is checked before `sink` sees its bytes. `onResult` gets each reference's
 * verdict (the problem, or undefined); without it, the first problem is thrown.
 */
export async function readVerified(
  root: string,
  refs: readonly ChunkRef[],
  sink: ChunkSink | undefined,
  onResult?: (ref: ChunkRef, index: number, problem: string | undefined) => void,
  into?: (index: number) => Uint8Array,
): Promise<void> {
  const packs = new Map<string, number[]>();
  const files: number[] = [];
  for (const [i, ref] of refs.entries()) {
    if (ref.p === undefined) files.push(i);
    else {
      const list = packs.get(ref.p) ?? [];
      packs.set(ref.p, list);
      list.push(i);
    }
  }
  const judge = async (i: number, check: () => Promise<void>): Promise<void> => {
    try {
      await check();
      onResult?.(refs[i]!, i, undefined);
    } catch (error) {
      if (!onResult || !(error instanceof CkptError)) throw error;
      onResult(refs[i]!, i, error.message);
    }
  };
  const one = (i: number) => async (): Promise<void> => {
    const ref = refs[i]!;
    const bytes = Buffer.allocUnsafe(ref.n);
    await readChunkInto(root, ref, bytes);
    await sink?.(ref, i, bytes);
  };
  await forEachConcurrently([...packs.values()], 4, (list) =>
    readPack(root, refs, list, sink, judge, one, into),
  );
  await forEachConcurrently(files, DEFAULT_IO_CONCURRENCY, (i) =>
    judge(i, sink ? one(i) : () => verifyChunk(root, refs[i]!)),
  );
}

/** {@link readVerified} for deep checks: every verdict, nothing delivered. */
export function verifyChunks(
  root: string,
  refs: readonly ChunkRef[],
  onResult: (ref: ChunkRef, problem: string | undefined) => void,
): Promise<void> {
  return readVerified(root, refs, undefined, (ref, _i, problem) => onResult(ref, problem));
}

async function readPack(
  root: string,
  refs: readonly ChunkRef[],
  indexes: number[],
  sink: ChunkSink | undefined,
  judge: (i: number, check: () => Promise<void>) => Promise<void>,
  one: (i: number) => () => Promise<void>,
  into: ((index: number) => Uint8Array) | undefined,
): Promise<void> {
  const first = refs[indexes[0]!]!;
  const path = chunkFilePath(root, first);
  let handle: fsp.FileHandle | undefined;
  let stat: Stats;
  try {
    await assertChunkDir(root, first);
    ({ handle, stat } = await openStoreFile(path, 'pack'));
  } catch {
    // The pack cannot be read at all: each chunk in it fails (or is reported) on its own.
    await handle?.close().catch(() => {});
    for (const i of indexes) await judge(i, one(i));
    return;
  }
  try {
    // Chunks this process already verified are not read again, unless their bytes are wanted.
    const todo: number[] = [];
    for (const i of indexes) {
      const ref = refs[i]!;
      if (!sink && (isTrusted(trustKey(path, ref), stat) || isTrusted(path, stat)))
        await judge(i, async () => {});
      else todo.push(i);
    }
    todo.sort((a, b) => refs[a]!.o! - refs[b]!.o!);
    const pending: Array<Promise<unknown>> = [];
    for (let k = 0; k < todo.length; ) {
      // One run: chunks that follow each other in the pack and fit in it.
      const run = [todo[k]!];
      const at = refs[run[0]!]!.o!;
      let end = at + stored(refs[run[0]!]!);
      while (++k < todo.length) {
        const ref = refs[todo[k]!]!;
        if (ref.o !== end || end - at + stored(ref) > RUN_BYTES || storedSizeProblem(ref, stat)) break;
        run.push(todo[k]!);
        end += stored(ref);
      }
      // A run that cannot be read whole is read chunk by chunk, so each gets its own verdict.
      const whole = !storedSizeProblem(refs[run[0]!]!, stat) && !storedSizeProblem(refs[run.at(-1)!]!, stat);
      // Raw chunks that also follow each other where they go are read straight into place: no
      // copy, and fresh memory is faulted in by the kernel's read, not page by page.
      const direct = whole && into ? contiguousTarget(refs, run, into) : undefined;
      let bytes: Uint8Array | undefined = direct ?? (whole ? Buffer.allocUnsafe(end - at) : undefined);
      if (bytes)
        bytes = await readFully(handle, bytes, at).then(
          () => bytes,
          () => undefined,
        );
      const runBytes = bytes;
      const checks = run.map((i) =>
        judge(i, async () => {
          const ref = refs[i]!;
          if (!runBytes) return one(i)();
          const raw = runBytes.subarray(ref.o! - at, ref.o! - at + stored(ref));
          let data: Uint8Array = raw;
          if (ref.z === 1) {
            data = Buffer.allocUnsafe(ref.n);
            decompressInto(raw, data, ref.h);
          }
          const actual = await sha256HexAsync(data);
          if (actual !== ref.h) {
            forget(trustKey(path, ref));
            throw new IntegrityError(
              `Chunk ${ref.h} is corrupt: its content hashes to ${actual} (\`${path}\`).`,
            );
          }
          trust(trustKey(path, ref), stat);
          if (!direct) await sink?.(ref, i, data);
        }),
      );
      const done = Promise.all(checks);
      done.catch(() => {});
      pending.push(done);
      // Keep one run being hashed while the next is read.
      if (pending.length > 1) await pending.shift();
    }
    await Promise.all(pending);
  } finally {
    await handle.close().catch(() => {});
  }
}

/** One view over the places of `run`'s chunks when they are raw and adjacent there, else undefined. */
function contiguousTarget(
  refs: readonly ChunkRef[],
  run: readonly number[],
  into: (index: number) => Uint8Array,
): Uint8Array | undefined {
  const first = into(run[0]!);
  let length = 0;
  for (const i of run) {
    const place = into(i);
    const ref = refs[i]!;
    if (ref.z === 1 || place.buffer !== first.buffer || place.byteOffset !== first.byteOffset + length)
      return undefined;
    length += ref.n;
  }
  return new Uint8Array(first.buffer, first.byteOffset, length);
}

function stored(ref: ChunkRef): number {
  return ref.z === 1 ? ref.s! : ref.n;
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

/** Reads and verifies a whole chunk list into `target` (see {@link readVerified}). */
export async function readChunks(
  root: string,
  chunks: readonly ChunkRef[],
  target: Uint8Array,
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
  await readVerified(
    root,
    chunks,
    (_ref, i, bytes) => {
      target.set(bytes, offsets[i]!);
    },
    undefined,
    (i) => target.subarray(offsets[i]!, offsets[i]! + chunks[i]!.n),
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
