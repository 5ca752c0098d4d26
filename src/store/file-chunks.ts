import type { promises as fsp } from 'node:fs';
import type { ChunkRef } from './chunk-read.js';
import type { ChunkWriter } from './chunk-store.js';
import { ANCHOR_EVERY, findAnchorCut } from './chunker.js';
import { xxh64Hex } from './fast-hash.js';
import { HASH_IN_WORKERS_FROM, hashRanges } from './hash-workers.js';
import { type BytesAt, PreviousLayout } from './previous-layout.js';

/** Bytes read from a file per block. */
const BLOCK = 16 << 20;
/**
 * Bytes of the previous block copied in front of each block: a chunk is at most ANCHOR_EVERY
 * long, so every chunk, and the window that ends it, lies within one block's buffer.
 */
const CARRY = ANCHOR_EVERY;
/** Blocks read ahead of the one being cut. */
const BLOCKS_AHEAD = 3;
/** Shared blocks one commit may hold at once (read ahead, being cut, or with chunks being written). */
const MAX_SHARED_BLOCKS = 10;

interface Block {
  /** File offset of `bytes[0]` (the carried bytes included). */
  start: number;
  bytes: Uint8Array;
  /** Returns the block's buffer for reuse once its chunks are cut and written. */
  done?: BlockUse;
}

/**
 * Shared blocks reused within one commit. NOTE: a SharedArrayBuffer that was posted to a worker
 * lives until that worker's heap is collected, which may be never in a short commit; reusing a
 * fixed set keeps memory bounded (and waiting for a free one is the back-pressure on reading).
 */
class BlockRing {
  private readonly free: SharedArrayBuffer[] = [];
  private readonly waiting: Array<(buffer: SharedArrayBuffer) => void> = [];
  private made = 0;

  async acquire(): Promise<SharedArrayBuffer> {
    const buffer = this.free.pop();
    if (buffer) return buffer;
    if (this.made < MAX_SHARED_BLOCKS) {
      this.made++;
      return new SharedArrayBuffer(CARRY + BLOCK);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(buffer: SharedArrayBuffer): void {
    const next = this.waiting.shift();
    if (next) next(buffer);
    else this.free.push(buffer);
  }
}

/** Who still needs one shared block: the cut chain until it passes it, and each chunk until written. */
class BlockUse {
  private users = 1;

  constructor(
    private readonly ring: BlockRing,
    private readonly buffer: SharedArrayBuffer,
  ) {}

  hold(): void {
    this.users++;
  }

  drop(): void {
    if (--this.users === 0) this.ring.release(this.buffer);
  }
}

/**
 * Cuts a file into anchored chunks (chunker.ts) and queues them: blocks are read ahead while the
 * chunks of earlier blocks are cut here, hashed in worker threads (hash-workers.ts) and written.
 * Every chunk is a view of one block, never copied. With `previous` (the chunks of the file's
 * previous version), chunks whose bytes are unchanged at the same place are kept without hashing,
 * and the cuts fall back in step with them after a changed region (previous-layout.ts).
 */
export async function chunkStream(
  writer: ChunkWriter,
  handle: fsp.FileHandle,
  limit: number,
  previous?: readonly ChunkRef[],
): Promise<ChunkRef[]> {
  const size = Math.min(limit, (await handle.stat()).size);
  const inWorker = size >= HASH_IN_WORKERS_FROM;
  const layout = previous && previous.length > 0 ? new PreviousLayout(previous, size) : undefined;
  const ring = new BlockRing();
  const ahead: Array<Promise<Block | undefined>> = [];
  let position = 0;
  let carry = new Uint8Array(0);
  let eof = false;
  let reading: Promise<unknown> = Promise.resolve();
  // Reads run one after the other.
  const readNext = (): Promise<Block | undefined> => {
    const read = reading.then(async (): Promise<Block | undefined> => {
      if (eof) return undefined;
      // Shared with the workers, which hash its chunks in place.
      const shared = inWorker ? await ring.acquire() : undefined;
      const use = shared ? new BlockUse(ring, shared) : undefined;
      const view = new Uint8Array(shared ?? new ArrayBuffer(CARRY + BLOCK));
      view.set(carry, 0);
      const from = carry.byteLength;
      let filled = from;
      try {
        while (filled < from + BLOCK) {
          const want = Math.min(from + BLOCK - filled, limit - position);
          const { bytesRead } = want > 0 ? await handle.read(view, filled, want, position) : { bytesRead: 0 };
          if (bytesRead === 0) {
            eof = true;
            break;
          }
          filled += bytesRead;
          position += bytesRead;
        }
      } catch (error) {
        use?.drop();
        throw error;
      }
      if (filled === from) {
        use?.drop();
        return undefined;
      }
      carry = view.slice(Math.max(from, filled - CARRY), filled);
      const start = position - filled;
      return { start, bytes: view.subarray(0, filled), ...(use ? { done: use } : {}) };
    });
    read.catch(() => {});
    reading = read;
    return read;
  };
  const blocks: Block[] = [];
  /** Where the next chunk starts (a file offset). */
  let chunkStart = 0;
  // Each block's chunks, in file order (their hashes may come back out of order).
  const groups: Array<Promise<Array<Promise<ChunkRef>>>> = [];
  try {
    for (;;) {
      while (ahead.length < BLOCKS_AHEAD) ahead.push(readNext());
      const next = await ahead.shift()!;
      if (next) blocks.push(next);
      const last = blocks[blocks.length - 1];
      const end = last ? last.start + last.bytes.byteLength : 0;
      const pieces: Piece[] = [];
      for (;;) {
        const piece = nextPiece(blocks, layout, chunkStart, end, !next);
        if (!piece) break;
        pieces.push(piece);
        chunkStart += piece.bytes.byteLength;
      }
      // A block is let go once no chunk still to be cut can start in it.
      while (blocks.length > 0 && blocks[0]!.start + blocks[0]!.bytes.byteLength <= chunkStart) {
        blocks.shift()!.done?.drop();
      }
      const group = queuePieces(writer, pieces);
      group.catch(() => {});
      groups.push(group);
      // Back-pressure: the chunks of the block before this one are all queued and under way.
      if (groups.length > 1) await groups[groups.length - 2];
      await writer.ready();
      if (!next) break;
    }
  } finally {
    for (const block of blocks) block.done?.drop();
  }
  return Promise.all((await Promise.all(groups)).flat());
}

/**
 * The chunk that starts at `start`, or undefined when more bytes must be read first (`end`: the
 * bytes read so far; `eof`: there are no more). In order: the previous version's chunk expected
 * there, if the bytes are it; a chunk up to where a previous chunk is unchanged at its old place,
 * if one starts within {@link ANCHOR_EVERY}; the anchored cut; the rest of the file.
 */
function nextPiece(
  blocks: readonly Block[],
  layout: PreviousLayout | undefined,
  start: number,
  end: number,
  eof: boolean,
): Piece | undefined {
  if (start >= end) return undefined;
  // Every previous chunk that could start a kept chunk or end this one must have been read.
  if (!eof && end - start <= (layout ? 2 * ANCHOR_EVERY : ANCHOR_EVERY)) return undefined;
  const bytesAt: BytesAt = (from, to) => {
    const block = blockHolding(blocks, from, to);
    return block?.bytes.subarray(from - block.start, to - block.start);
  };
  // A kept chunk's bytes were just found to have its `x`.
  const kept = layout?.keptAt(start, bytesAt);
  if (kept) {
    const piece = sliceOf(blockWith(blocks, start, start + kept.n), start, start + kept.n);
    return { ...piece, kept, x: kept.x! };
  }
  const inStep = layout?.inStepAfter(start, Math.min(start + ANCHOR_EVERY, end), bytesAt);
  let cut = inStep;
  if (cut === undefined && end - start > ANCHOR_EVERY) {
    // A chunk ends in the window before ANCHOR_EVERY bytes only when there are bytes after them.
    const windowEnd = start + ANCHOR_EVERY;
    const block = blockWith(blocks, start, windowEnd);
    cut = block.start + findAnchorCut(block.bytes, windowEnd - block.start);
  }
  const piece = sliceOf(blockWith(blocks, start, cut ?? end), start, cut ?? end);
  const x = xxh64Hex(piece.bytes);
  const known = inStep === undefined ? layout?.recognise(piece.bytes, start, x) : undefined;
  return { ...piece, x, ...(known ? { kept: known } : {}) };
}

/**
 * A chunk to store: its bytes, the shared block they are a view of (if any), and the previous
 * version's chunk when these bytes are that chunk unchanged.
 */
interface Piece {
  bytes: Uint8Array;
  use?: BlockUse;
  kept?: ChunkRef;
  /** The xxh64 of the bytes, recorded in the chunk's reference. */
  x: string;
}

/** The first block held that has the file's bytes [from, to), if any. */
function blockHolding(blocks: readonly Block[], from: number, to: number): Block | undefined {
  return blocks.find((b) => b.start <= from && to <= b.start + b.bytes.byteLength);
}

/** The first block held that has the file's bytes [from, to) (one always does, see CARRY). */
function blockWith(blocks: readonly Block[], from: number, to: number): Block {
  const block = blockHolding(blocks, from, to);
  if (!block) throw new Error(`internal: no block holds the file's bytes ${from}..${to}`);
  return block;
}

/** The file's bytes [from, to) as a view of `block`, which stays held until the chunk is written. */
function sliceOf(block: Block, from: number, to: number): Pick<Piece, 'bytes' | 'use'> {
  block.done?.hold();
  return {
    bytes: block.bytes.subarray(from - block.start, to - block.start),
    ...(block.done ? { use: block.done } : {}),
  };
}

/**
 * Queues chunks for the writer: a previous chunk found unchanged is kept if its stored copy is
 * known good (else stored anew); views of a shared block are hashed by a worker first (no copy),
 * the others by the writer. Each new chunk's reference records the xxh64 of its bytes (`x`).
 * Resolves to their references, in order, once all are queued; each view's block is let go once
 * its chunk is written.
 */
async function queuePieces(writer: ChunkWriter, pieces: Piece[]): Promise<Array<Promise<ChunkRef>>> {
  const shared = new Map<SharedArrayBuffer, number[]>();
  for (const [i, { bytes, kept }] of pieces.entries()) {
    if (kept || !(bytes.buffer instanceof SharedArrayBuffer)) continue;
    const list = shared.get(bytes.buffer) ?? [];
    shared.set(bytes.buffer, list);
    list.push(i);
  }
  const known = new Map<number, string>();
  try {
    await Promise.all(
      [...shared].map(async ([buffer, indexes]) => {
        const ranges = indexes.flatMap((i) => [pieces[i]!.bytes.byteOffset, pieces[i]!.bytes.byteLength]);
        const digests = await hashRanges(buffer, ranges);
        for (const [k, i] of indexes.entries()) known.set(i, digests[k]!);
      }),
    );
  } catch (error) {
    for (const piece of pieces) piece.use?.drop();
    throw error;
  }
  return pieces.map((piece, i) => {
    const { kept, x } = piece;
    const store = (hash?: string): Promise<ChunkRef> =>
      writer.add(piece.bytes, hash).then((stored) => ({ ...stored, x }));
    const ref = kept
      ? writer.reuse([kept]).then((intact) => (intact ? { ...kept } : store()))
      : store(known.get(i));
    const release = (): void => piece.use?.drop();
    ref.then(release, release);
    return ref;
  });
}
