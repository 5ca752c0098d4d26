/**
 * Where to cut data into chunks.
 *
 * Two strategies, both writer-side details (a reader only concatenates a chunk list):
 * - fixed-size chunks for in-memory arrays, which change in place and never shift;
 * - content-defined chunks (FastCDC, gear hash with normalized chunking) for files, so an
 *   insertion or deletion moves only the chunks around it and the rest still dedups.
 */

/** The chunk size for in-memory buffers and typed arrays. */
export const FIXED_CHUNK_SIZE = 1 << 20;

/**
 * The fixed chunk size for an array of `byteLength` bytes: 1 MiB at every size.
 * NOTE: chunks are appended to pack files (format v2), so many small chunks cost no more files
 * or fsyncs than a few large ones, and a change to 1 % of an array in ten places rewrites ~1–2 %.
 */
export function fixedChunkSizeFor(_byteLength: number): number {
  return FIXED_CHUNK_SIZE;
}
/** Content-defined chunk sizes for files. */
export const CDC_MIN_SIZE = 256 << 10;
/** The average chunk size the cut rule aims at. */
export const CDC_AVG_SIZE = 1 << 20;
/** A chunk is cut here at the latest, cut point or not. */
export const CDC_MAX_SIZE = 4 << 20;

/** [offset, length] pairs covering `byteLength` in fixed steps. */
export function fixedChunks(
  byteLength: number,
  size = fixedChunkSizeFor(byteLength),
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let offset = 0; offset < byteLength; offset += size) {
    out.push([offset, Math.min(size, byteLength - offset)]);
  }
  return out;
}

/** 256 pseudo-random 32-bit values from a fixed seed: boundaries must be the same in every version (scanCandidates builds the same table). */
const GEAR = (() => {
  const table = new Int32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x | 0;
  }
  return table;
})();

// High bits of the gear hash carry the most recent ~32 bytes; test those.
const MASK_STRICT = 0xfffffc00 | 0; // 22 bits: before the average size, cuts are rarer
const MASK_LOOSE = 0xffffc000 | 0; // 18 bits: after it, cuts come sooner

/** Bytes the gear hash sees: a cut depends only on the 32 bytes ending at it. */
export const CDC_WINDOW = 32;

/**
 * Length of the next chunk of `data` starting at `start`, looking at no more than `end`: the
 * reference definition of the cut points (the scan below finds the same ones in parallel).
 * A cut may fall after byte `i` (relative to `start`) with `i` ≥ the min size where the gear hash
 * of the window ending at `i` has no bit of the strict mask set (before the average size) or of
 * the loose one (after it). Returns `end - start` when no cut was found and `final` is true or
 * the max size was reached; returns 0 when more data is needed to decide.
 */
export function cdcCut(data: Uint8Array, start: number, end: number, final: boolean): number {
  const available = end - start;
  if (available <= CDC_MIN_SIZE) return final ? available : 0;
  const limit = Math.min(available, CDC_MAX_SIZE);
  const normal = Math.min(limit, CDC_AVG_SIZE);
  let h = 0;
  let i = CDC_MIN_SIZE - (CDC_WINDOW - 1);
  for (; i < CDC_MIN_SIZE; i++) h = ((h << 1) + GEAR[data[start + i]!]!) | 0;
  for (; i < normal; i++) {
    h = ((h << 1) + GEAR[data[start + i]!]!) | 0;
    if ((h & MASK_STRICT) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    h = ((h << 1) + GEAR[data[start + i]!]!) | 0;
    if ((h & MASK_LOOSE) === 0) return i + 1;
  }
  if (limit === CDC_MAX_SIZE || final) return limit;
  return 0;
}

/**
 * Every position in `data[from, to)` where a cut may fall: the gear hash of the 32 bytes ending
 * there has no bit of the loose mask set. A position where the strict mask holds too is stored as
 * `~position`. The bytes before `from` (up to 31) only warm the hash up.
 * NOTE: self-contained (its own table and masks, no imports), because its source text also runs
 * in worker threads (cdc-scan.ts). The table is the same as GEAR.
 */
export function scanCandidates(data: Uint8Array, from: number, to: number): Int32Array {
  const gear = new Int32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    gear[i] = x | 0;
  }
  const strict = 0xfffffc00 | 0;
  const loose = 0xffffc000 | 0;
  let h = 0;
  for (let i = Math.max(0, from - 31); i < from; i++) h = ((h << 1) + gear[data[i]!]!) | 0;
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    h = ((h << 1) + gear[data[i]!]!) | 0;
    if ((h & loose) === 0) out.push((h & strict) === 0 ? ~i : i);
  }
  return Int32Array.from(out);
}

/**
 * Turns cut candidates into chunk lengths exactly as {@link cdcCut} would, without touching the
 * data again: feed it each scanned block's candidates in order, then ask for the next cut.
 */
export class CutChain {
  /** Absolute candidate positions; strict ones as `-(position + 1)`. */
  private readonly candidates: number[] = [];
  private head = 0;
  /** Where the current chunk starts (absolute offset in the file). */
  start = 0;

  /** Adds the candidates of a block whose position 0 is the absolute offset `base`. */
  add(found: Int32Array, base: number): void {
    for (const e of found) this.candidates.push(e < 0 ? -(base + ~e + 1) : base + e);
    if (this.head > 4096) {
      this.candidates.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The length of the next chunk given data scanned up to `end`, or 0 when more is needed. */
  next(end: number, final: boolean): number {
    const available = end - this.start;
    if (available <= 0) return 0;
    if (available <= CDC_MIN_SIZE) return final ? available : 0;
    const limit = Math.min(available, CDC_MAX_SIZE);
    const normal = Math.min(limit, CDC_AVG_SIZE);
    while (
      this.head < this.candidates.length &&
      position(this.candidates[this.head]!) - this.start < CDC_MIN_SIZE
    )
      this.head++;
    for (let k = this.head; k < this.candidates.length; k++) {
      const e = this.candidates[k]!;
      const i = position(e) - this.start;
      if (i >= limit) break;
      if (i >= normal || e < 0) return i + 1;
    }
    if (limit === CDC_MAX_SIZE || final) return limit;
    return 0;
  }
}

function position(encoded: number): number {
  return encoded < 0 ? -encoded - 1 : encoded;
}
