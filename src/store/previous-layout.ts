import type { ChunkRef } from './chunk-read.js';
import { ANCHOR_EVERY, ANCHOR_WINDOW } from './chunker.js';
import { XXH64_HEX, xxh64Hex } from './fast-hash.js';

/** The file's bytes `[from, to)` when they have been read (as a view of one block), else undefined. */
export type BytesAt = (from: number, to: number) => Uint8Array | undefined;

/**
 * The chunks of a file's previous version (the newest checkpoint's entry for the same path), used
 * to cut the new version the same way where its bytes did not change, and to keep those chunks
 * without hashing them with SHA-256. A previous chunk is recognised by the xxh64 its reference
 * records (`x`, format.md 4.3), compared with the bytes at the place where it is expected:
 * - right after the previous chunk that was kept (so a run of unchanged chunks is followed
 *   wherever it now lies: in place, or shifted by an insertion or deletion before it);
 * - just after a changed region, at its old offset moved by the shift the file had so far, or by
 *   how much the whole file grew or shrank (one insertion or deletion), or not moved at all: the
 *   cuts fall back in step at once after a rewrite in place, an insertion or a deletion;
 * - anywhere an anchored cut produced a chunk of its length and xxh64.
 *
 * NOTE: anchored cuts are placed by the previous cut, so a changed region can move the cut at its
 * end, and two chains of cuts out of step may stay apart for many chunks: without this, 1 % of a
 * 1 GiB file rewritten in the middle rewrote 20 % of it (measured). A false match needs two
 * different byte strings of the same length with the same 64-bit xxHash at the same place.
 */
export class PreviousLayout {
  /** Each previous chunk's offset in the file, ascending. */
  private readonly starts: number[] = [];
  private readonly byHint = new Map<string, number>();
  /** Whether previous chunk `j` is unchanged at its old offset moved by `d`, once checked (`j:d`). */
  private readonly checked = new Map<string, boolean>();
  /** How much the file grew (or shrank, below 0) since the previous version. */
  private readonly sizeChange: number;
  /** The previous chunk expected where the next chunk starts. */
  private expected: number | undefined = 0;
  /** Where the last previous chunk found now lies, less where it was. */
  private shift = 0;

  /** `refs`: the previous entry's chunks; `size`: how many bytes of the file are read now. */
  constructor(
    private readonly refs: readonly ChunkRef[],
    private readonly size: number,
  ) {
    let at = 0;
    for (const [j, ref] of refs.entries()) {
      this.starts.push(at);
      if (ref.x !== undefined && XXH64_HEX.test(ref.x) && !this.byHint.has(ref.x)) this.byHint.set(ref.x, j);
      at += ref.n;
    }
    this.sizeChange = size - at;
  }

  /** The previous chunk expected at `start` (after the last one kept) if the bytes there are it. */
  keptAt(start: number, bytesAt: BytesAt): ChunkRef | undefined {
    const j = this.expected;
    this.expected = undefined;
    if (j === undefined || !this.holds(j, start, bytesAt)) return undefined;
    this.found(j, start);
    return this.refs[j];
  }

  /**
   * The first offset in `[from + ANCHOR_WINDOW, to]` where a previous chunk starts that is
   * unchanged at its old place moved by one of the likely shifts: the chunk from `from` ends there,
   * and that previous chunk is expected next. (Not closer: bytes that repeat would match at many
   * shifts, and cut chunks of a few bytes.)
   */
  inStepAfter(from: number, to: number, bytesAt: BytesAt): number | undefined {
    let best: { at: number; j: number } | undefined;
    for (const d of new Set([this.shift, this.sizeChange, 0])) {
      for (let j = this.firstAfter(from + ANCHOR_WINDOW - 1 - d); j < this.starts.length; j++) {
        const at = this.starts[j]! + d;
        if (at > to || (best && at >= best.at)) break;
        const key = `${j}:${d}`;
        let same = this.checked.get(key);
        if (same === undefined) {
          same = this.holds(j, at, bytesAt);
          this.checked.set(key, same);
        }
        if (same) {
          best = { at, j };
          break;
        }
      }
    }
    if (!best) return undefined;
    this.expected = best.j;
    this.shift = best.at - this.starts[best.j]!;
    return best.at;
  }

  /**
   * After an anchored cut: the previous chunk that the new chunk `bytes` (starting at `start`) is,
   * if its length and xxh64 (`x`) say so; then the chunk after it is expected next.
   */
  recognise(bytes: Uint8Array, start: number, x: string): ChunkRef | undefined {
    const j = this.byHint.get(x);
    if (j === undefined || this.refs[j]!.n !== bytes.byteLength || !this.eligible(j, start)) return undefined;
    this.found(j, start);
    return this.refs[j];
  }

  private found(j: number, start: number): void {
    this.expected = j + 1;
    this.shift = start - this.starts[j]!;
  }

  /** The first previous chunk that starts after `offset`. */
  private firstAfter(offset: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether the bytes at `start` are previous chunk `j`, judged by its `x`. */
  private holds(j: number, start: number, bytesAt: BytesAt): boolean {
    const ref = this.refs[j];
    if (!ref || ref.x === undefined || !this.eligible(j, start)) return false;
    const bytes = bytesAt(start, start + ref.n);
    return bytes !== undefined && xxh64Hex(bytes) === ref.x;
  }

  /**
   * Chunks ckpt cuts (at most {@link ANCHOR_EVERY}) count; the last previous chunk only if it still
   * ends the file, so that an appended-to file does not gather one short chunk per commit.
   */
  private eligible(j: number, start: number): boolean {
    const ref = this.refs[j]!;
    if (start < 0 || ref.n > ANCHOR_EVERY || start + ref.n > this.size) return false;
    return j < this.refs.length - 1 || start + ref.n === this.size;
  }
}
