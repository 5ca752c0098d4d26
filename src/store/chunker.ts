/**
 * Where to cut data into chunks.
 *
 * Two strategies, both writer-side details (a reader only concatenates a chunk list):
 * - fixed-size chunks for in-memory arrays, which change in place and never shift;
 * - content-defined chunks (FastCDC, gear hash with normalized chunking) for files, so an
 *   insertion or deletion moves only the chunks around it and the rest still dedups.
 */

/** Smallest and largest chunk for in-memory buffers and typed arrays. */
export const FIXED_CHUNK_SIZE = 1 << 20;
export const MAX_FIXED_CHUNK_SIZE = 16 << 20;
/** A large array is cut into about this many chunks (fewer files and fsyncs per save). */
export const TARGET_CHUNKS_PER_ARRAY = 256;

/**
 * The fixed chunk size for an array of `byteLength` bytes: 1 MiB up to 256 MiB, then growing by
 * powers of two so that an array has about 256 chunks (4 MiB for 1 GiB), up to 16 MiB.
 * NOTE: every chunk costs a file and an fsync; 256 of them keep a save near raw write speed,
 * while a change to 1 % of an array still rewrites only ~1–2 % of it.
 */
export function fixedChunkSizeFor(byteLength: number): number {
  let size = FIXED_CHUNK_SIZE;
  while (size < MAX_FIXED_CHUNK_SIZE && byteLength / size > TARGET_CHUNKS_PER_ARRAY) size *= 2;
  return size;
}
/** Content-defined chunk sizes for files. */
export const CDC_MIN_SIZE = 256 << 10;
export const CDC_AVG_SIZE = 1 << 20;
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

/** 256 pseudo-random 32-bit values from a fixed seed: boundaries must be the same in every version. */
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

/**
 * Length of the next chunk of `data` starting at `start`, looking at no more than `end`.
 * Returns `end - start` when no cut was found and `final` is true or the max size was reached;
 * returns 0 when more data is needed to decide (not final and fewer than max bytes available).
 */
export function cdcCut(data: Uint8Array, start: number, end: number, final: boolean): number {
  const available = end - start;
  if (available <= CDC_MIN_SIZE) return final ? available : 0;
  const limit = Math.min(available, CDC_MAX_SIZE);
  const normal = Math.min(limit, CDC_AVG_SIZE);
  let h = 0;
  let i = CDC_MIN_SIZE;
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
