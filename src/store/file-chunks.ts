import type { promises as fsp } from 'node:fs';
import { hashRanges, SCAN_IN_WORKERS_FROM, scanBlock, WARM_BYTES } from './cdc-scan.js';
import type { ChunkRef } from './chunk-read.js';
import type { ChunkWriter } from './chunk-store.js';
import { CutChain } from './chunker.js';

/** Bytes read from a file per block; each block is scanned for cut points on its own. */
const SCAN_BLOCK = 16 << 20;
/** Blocks read and being scanned ahead of the one being cut. */
const BLOCKS_AHEAD = 3;
/** Shared blocks one commit may hold at once (read ahead, being cut, or with chunks being written). */
const MAX_SHARED_BLOCKS = 10;

interface Block {
  /** File offset of `bytes[0]`. */
  start: number;
  bytes: Uint8Array;
  /** Returns the block's buffer for reuse once the chain passed it and its chunks are written. */
  done?: BlockUse;
}

interface Reading {
  start: number;
  from: number;
  filled: number;
  scan: Promise<{ buffer: ArrayBuffer | SharedArrayBuffer; found: Int32Array }>;
  use?: BlockUse;
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
      return new SharedArrayBuffer(WARM_BYTES + SCAN_BLOCK);
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
 * Cuts a file into content-defined chunks and queues them: blocks are read ahead and scanned for
 * cut candidates in worker threads (cdc-scan.ts) while the chunks of earlier blocks are hashed
 * there and written here. A chunk inside one block is a view of it; one that spans two is copied.
 */
export async function chunkStream(
  writer: ChunkWriter,
  handle: fsp.FileHandle,
  limit: number,
): Promise<ChunkRef[]> {
  const size = Math.min(limit, (await handle.stat()).size);
  const inWorker = size >= SCAN_IN_WORKERS_FROM;
  const ring = new BlockRing();
  const chain = new CutChain();
  const ahead: Array<Promise<Reading | undefined>> = [];
  let position = 0;
  let tail = new Uint8Array(0);
  let eof = false;
  let reading: Promise<unknown> = Promise.resolve();
  // Reads run one after the other, each block's scan starts as soon as it is read.
  const readNext = (): Promise<Reading | undefined> => {
    const read = reading.then(async (): Promise<Reading | undefined> => {
      if (eof) return undefined;
      // Shared with the workers, which scan and hash it in place.
      const shared = inWorker ? await ring.acquire() : undefined;
      const buffer = shared ?? new ArrayBuffer(WARM_BYTES + SCAN_BLOCK);
      const use = shared ? new BlockUse(ring, shared) : undefined;
      const view = new Uint8Array(buffer);
      view.set(tail, 0);
      const from = tail.byteLength;
      let filled = from;
      try {
        while (filled < view.byteLength) {
          const want = Math.min(view.byteLength - filled, limit - position);
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
      tail = view.slice(Math.max(from, filled - WARM_BYTES), filled);
      const scan = scanBlock(buffer, filled, from, inWorker);
      scan.catch(() => {});
      return { start: position - (filled - from), from, filled, scan, ...(use ? { use } : {}) };
    });
    read.catch(() => {});
    reading = read;
    return read;
  };
  const blocks: Block[] = [];
  /** The file offset up to which blocks were read and scanned (blocks passed are dropped). */
  let end = 0;
  // Each block's chunks, in file order (their hashes may come back out of order).
  const groups: Array<Promise<Array<Promise<ChunkRef>>>> = [];
  for (;;) {
    while (ahead.length < BLOCKS_AHEAD) ahead.push(readNext());
    const next = await ahead.shift()!;
    if (next) {
      // Candidates go into the chain in file order, whichever worker finished first.
      const scanned = await next.scan;
      chain.add(scanned.found, next.start - next.from);
      const bytes = new Uint8Array(scanned.buffer, next.from, next.filled - next.from);
      blocks.push({ start: next.start, bytes, ...(next.use ? { done: next.use } : {}) });
      end = next.start + bytes.byteLength;
    }
    const pieces: Piece[] = [];
    for (;;) {
      const cut = chain.next(end, !next);
      if (cut === 0) break;
      pieces.push(sliceOf(blocks, chain.start, cut));
      chain.start += cut;
      if (chain.start === end) break;
    }
    while (blocks.length > 0 && blocks[0]!.start + blocks[0]!.bytes.byteLength <= chain.start) {
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
  return Promise.all((await Promise.all(groups)).flat());
}

/** A chunk to store: its bytes, and the shared block they are a view of (if any). */
interface Piece {
  bytes: Uint8Array;
  use?: BlockUse;
}

/** Bytes [at, at + length) of the file from the blocks held: a view when one block holds them all. */
function sliceOf(blocks: readonly Block[], at: number, length: number): Piece {
  const first = blocks.find((b) => b.start + b.bytes.byteLength > at)!;
  const offset = at - first.start;
  if (offset + length <= first.bytes.byteLength) {
    first.done?.hold();
    return {
      bytes: first.bytes.subarray(offset, offset + length),
      ...(first.done ? { use: first.done } : {}),
    };
  }
  const out = new Uint8Array(length);
  let done = 0;
  for (const block of blocks) {
    if (block.start + block.bytes.byteLength <= at || done === length) continue;
    const from = Math.max(0, at + done - block.start);
    const piece = block.bytes.subarray(from, Math.min(block.bytes.byteLength, from + length - done));
    out.set(piece, done);
    done += piece.byteLength;
  }
  return { bytes: out };
}

/**
 * Queues chunks for the writer: views of a shared block are hashed by a worker first (no copy),
 * the others by the writer. Resolves to their references, in order, once all are queued; each
 * view's block is let go once its chunk is written.
 */
async function queuePieces(writer: ChunkWriter, pieces: Piece[]): Promise<Array<Promise<ChunkRef>>> {
  const shared = new Map<SharedArrayBuffer, number[]>();
  for (const [i, { bytes }] of pieces.entries()) {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) continue;
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
    const ref = writer.add(piece.bytes, known.get(i));
    const release = (): void => piece.use?.drop();
    ref.then(release, release);
    return ref;
  });
}
