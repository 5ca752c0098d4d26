import type { promises as fsp, Stats } from 'node:fs';
import { CkptError, IntegrityError } from '../errors.js';
import {
  assertChunkDir,
  type ChunkRef,
  checkHash,
  chunkFilePath,
  DEFAULT_IO_CONCURRENCY,
  readChunkInto,
  readFully,
  storedSizeProblem,
  trustKey,
  verifyChunk,
} from './chunk-read.js';
import { decompressInto } from './compress.js';
import { openStoreFile } from './safe-fs.js';
import { isTrusted } from './trust.js';
import { forEachConcurrently } from './worker-pool.js';

/**
 * The bulk chunk reader: many chunks read and verified at once, packs in large sequential runs.
 * One chunk at a time is chunk-read.ts's.
 */

/** Adjacent chunks of one pack read with a single read, up to this many bytes. */
const RUN_BYTES = 8 << 20;

/** What to do with each verified chunk; `bytes` is valid only until the returned promise settles. */
export type ChunkSink = (ref: ChunkRef, index: number, bytes: Uint8Array) => void | Promise<void>;

/**
 * Reads and verifies many chunks the fast way, for restores and deep checks: each pack's chunks in
 * offset order, in single reads of adjacent chunks up to {@link RUN_BYTES}, several packs at once
 * and the next read under way while the last one is hashed; format 1 chunk files one by one.
 * Every chunk's SHA-256 is checked before `sink` sees its bytes. `onResult` gets each reference's
 * verdict (the problem, or undefined); without it, the first problem is thrown, and no further
 * read is started.
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
  let failed = false;
  const judge = async (i: number, check: () => Promise<void>): Promise<void> => {
    try {
      await check();
      onResult?.(refs[i]!, i, undefined);
    } catch (error) {
      if (!onResult || !(error instanceof CkptError)) {
        failed = true;
        throw error;
      }
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
    readPack(root, refs, list, sink, judge, one, into, () => failed),
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

/**
 * {@link readVerified} for a yes/no deep check: the first problem found among `refs`, or
 * undefined when every chunk verifies. Reading stops at the first problem.
 */
export async function firstChunkProblem(
  root: string,
  refs: readonly ChunkRef[],
): Promise<string | undefined> {
  try {
    await readVerified(root, refs, undefined);
    return undefined;
  } catch (error) {
    if (error instanceof CkptError) return error.message;
    throw error;
  }
}

async function readPack(
  root: string,
  refs: readonly ChunkRef[],
  indexes: number[],
  sink: ChunkSink | undefined,
  judge: (i: number, check: () => Promise<void>) => Promise<void>,
  one: (i: number) => () => Promise<void>,
  into: ((index: number) => Uint8Array) | undefined,
  stopped: () => boolean,
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
    for (let k = 0; k < todo.length && !stopped(); ) {
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
          await checkHash(data, ref, path, stat);
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
