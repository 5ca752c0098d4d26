/**
 * Where to cut data into chunks.
 *
 * Two strategies, both writer-side details (a reader only concatenates a chunk list):
 * - fixed-size chunks for in-memory arrays, which change in place and never shift;
 * - anchored chunks for files: a cut near every MiB, placed by the content of a small window
 *   before it, so a file changed in place or appended to keeps its other chunks, and so does one
 *   into which a few KiB were inserted or from which they were deleted (the cuts move with the
 *   bytes). Finding the cuts reads 1/16 of the bytes, so a commit costs little more than its
 *   hashing; the price is that a shift of more than a window loses the chunks after it.
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

/** The largest chunk of a file: a chunk ends at most this many bytes after it starts. */
export const ANCHOR_EVERY = 1 << 20;
/** The last bytes of that span, in which the cut is looked for: chunks are 960 KiB to 1 MiB. */
export const ANCHOR_WINDOW = 64 << 10;

/**
 * The chunk lengths of a whole file's bytes: the reference definition of where files are cut
 * (the commit path finds the same cuts as the blocks arrive, see file-chunks.ts). A chunk that
 * starts at `s` ends at the end when fewer than E = {@link ANCHOR_EVERY} bytes remain after `s`;
 * else after the byte of the window `[s + E - W, s + E)` (W = {@link ANCHOR_WINDOW}) chosen by
 * {@link findAnchorCut}. Each window is placed by the previous cut, so the cuts move with the
 * bytes: after an insertion or deletion of any size, the cuts after it fall back in step within
 * a few chunks (when a shifted window picks its old byte again), as with content-defined chunking.
 */
export function anchoredChunks(data: Uint8Array): number[] {
  const sizes: number[] = [];
  let start = 0;
  while (data.byteLength - start > ANCHOR_EVERY) {
    const cut = findAnchorCut(data, start + ANCHOR_EVERY);
    sizes.push(cut - start);
    start = cut;
  }
  if (start < data.byteLength) sizes.push(data.byteLength - start);
  return sizes;
}

/** 256 pseudo-random 32-bit values: successive xorshift32 values from the seed 0x9e3779b9. */
const GEAR = (() => {
  const table = new Int32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x | 0;
  }
  return table;
})();

/**
 * The cut for the window ending at `end` (exclusive) in `data`: the position after the byte `i`
 * of `[end - ANCHOR_WINDOW, end)` whose gear hash is the largest (as a signed 32-bit integer; the
 * first such `i` on ties). The hash is `h = (h << 1) + GEAR[byte]` over 32-bit integers, so it
 * depends only on the 32 bytes ending at `i`; it is warmed up on the 31 bytes before the window.
 */
export function findAnchorCut(data: Uint8Array, end: number): number {
  const from = end - ANCHOR_WINDOW;
  let h = 0;
  for (let i = Math.max(0, from - 31); i < from; i++) h = ((h << 1) + GEAR[data[i]!]!) | 0;
  let best = -0x80000001;
  let at = from;
  for (let i = from; i < end; i++) {
    h = ((h << 1) + GEAR[data[i]!]!) | 0;
    if (h > best) {
      best = h;
      at = i;
    }
  }
  return at + 1;
}
