import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ANCHOR_EVERY,
  ANCHOR_WINDOW,
  anchoredChunks,
  FIXED_CHUNK_SIZE,
  findAnchorCut,
  fixedChunks,
} from '../../src/store/chunker.js';
import { sha256Hex } from '../../src/store/hash.js';
import { seededBytes } from '../helpers/bytes.js';

function chunkHashes(data: Uint8Array, sizes: readonly number[]): string[] {
  let at = 0;
  return sizes.map((n) => {
    const h = sha256Hex(data.subarray(at, at + n));
    at += n;
    return h;
  });
}

/** Random data, all zeros (every window's hashes are equal) or random with long zero runs. */
const dataArb = fc
  .record({
    kind: fc.constantFrom('random', 'zeros', 'mixed'),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    length: fc.oneof(fc.integer({ min: 0, max: ANCHOR_EVERY + 10 }), fc.integer({ min: 0, max: 11 << 20 })),
  })
  .map(({ kind, seed, length }) => {
    if (kind === 'zeros') return Buffer.alloc(length);
    const data = seededBytes(seed, length);
    if (kind === 'mixed') data.fill(0, length >>> 3, length >>> 1);
    return data;
  });

/** A chunk size and a length of at most 2000 chunks of it. */
const sizeAndLength = fc
  .integer({ min: 1, max: 5 << 20 })
  .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size * 2000 })));

describe('fixedChunks', () => {
  it('covers every byte exactly once, in order, in steps of `size`', () => {
    fc.assert(
      fc.property(sizeAndLength, ([size, length]) => {
        const chunks = fixedChunks(length, size);
        expect(chunks.length).toBe(Math.ceil(length / size));
        let expected = 0;
        const bad = chunks.findIndex(([offset, n], i) => {
          const ok = offset === expected && n > 0 && (i < chunks.length - 1 ? n === size : n <= size);
          expected += n;
          return !ok;
        });
        expect(bad).toBe(-1);
        expect(expected).toBe(length);
      }),
    );
  });

  it('uses FIXED_CHUNK_SIZE by default', () => {
    expect(fixedChunks(FIXED_CHUNK_SIZE * 2 + 5)).toEqual([
      [0, FIXED_CHUNK_SIZE],
      [FIXED_CHUNK_SIZE, FIXED_CHUNK_SIZE],
      [FIXED_CHUNK_SIZE * 2, 5],
    ]);
    expect(fixedChunks(0)).toEqual([]);
  });
});

/** The chunk sizes a plain loop finds: each cut after the byte whose hash of the 32 bytes ending there is the largest in its window. */
function slowChunks(data: Uint8Array): number[] {
  const gear = new Int32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    gear[i] = x | 0;
  }
  const hashAt = (i: number): number => {
    let h = 0;
    for (let j = Math.max(0, i - 31); j <= i; j++) h = ((h << 1) + gear[data[j]!]!) | 0;
    return h;
  };
  const sizes: number[] = [];
  let start = 0;
  while (data.byteLength - start > ANCHOR_EVERY) {
    let at = start + ANCHOR_EVERY - ANCHOR_WINDOW;
    for (let i = at; i < start + ANCHOR_EVERY; i++) if (hashAt(i) > hashAt(at)) at = i;
    sizes.push(at + 1 - start);
    start = at + 1;
  }
  if (start < data.byteLength) sizes.push(data.byteLength - start);
  return sizes;
}

describe('anchored chunks (files)', () => {
  it('concatenate back to the data, each but the last 960 KiB to 1 MiB long', () => {
    fc.assert(
      fc.property(dataArb, (data) => {
        const sizes = anchoredChunks(data);
        expect(sizes.reduce((a, n) => a + n, 0)).toBe(data.byteLength);
        sizes.forEach((n, i) => {
          expect(n).toBeLessThanOrEqual(ANCHOR_EVERY);
          if (i < sizes.length - 1) expect(n).toBeGreaterThan(ANCHOR_EVERY - ANCHOR_WINDOW);
          else expect(n).toBeGreaterThan(0);
        });
      }),
      { numRuns: 25 },
    );
  });

  it('cuts after the byte with the largest hash of its window, the first one on ties', () => {
    const random = seededBytes(5, 3 * ANCHOR_EVERY + 17);
    const gaps = seededBytes(6, 3 * ANCHOR_EVERY + 17);
    gaps.fill(0, ANCHOR_EVERY - ANCHOR_WINDOW, ANCHOR_EVERY + 5);
    const zeros = Buffer.alloc(2 * ANCHOR_EVERY + 1);
    for (const data of [random, gaps, zeros]) expect(anchoredChunks(data)).toEqual(slowChunks(data));
    // All hashes of a window of zeros are equal: the cut is after its first byte.
    expect(findAnchorCut(zeros, ANCHOR_EVERY)).toBe(ANCHOR_EVERY - ANCHOR_WINDOW + 1);
  });

  it('a file changed in place or appended to keeps every other chunk', () => {
    const original = seededBytes(20240601, 20 << 20);
    const before = chunkHashes(original, anchoredChunks(original));
    const changed = Buffer.from(original);
    seededBytes(9, 4096).copy(changed, 10 << 20);
    const appended = Buffer.concat([original, seededBytes(10, 3 << 20)]);
    for (const data of [changed, appended]) {
      const after = new Set(chunkHashes(data, anchoredChunks(data)));
      expect(before.filter((h) => !after.has(h)).length).toBeLessThanOrEqual(1);
    }
  });

  it('resists small shifts: after inserting or deleting up to a few KiB, the cuts fall back in step', () => {
    const original = seededBytes(20240601, 20 << 20);
    const before = chunkHashes(original, anchoredChunks(original));
    expect(before.length).toBeGreaterThan(20);
    for (const [at, inserted, deleted] of [
      [1000, 100, 0],
      [5 << 20, 4096, 0],
      [3000, 0, 2048],
      [9 << 20, 0, 1],
    ] as const) {
      const data = Buffer.concat([
        original.subarray(0, at),
        seededBytes(7, inserted),
        original.subarray(at + deleted),
      ]);
      const after = new Set(chunkHashes(data, anchoredChunks(data)));
      const lost = before.filter((h) => !after.has(h)).length;
      // The chunk the change is in, and rarely the next (when the shift moved its cut's byte out of its window).
      expect(lost, `insert ${inserted} and delete ${deleted} at ${at}`).toBeLessThanOrEqual(2);
    }

    // Control: fixed-size chunks lose (almost) everything after such an insertion.
    const fixed = (d: Buffer): string[] =>
      fixedChunks(d.byteLength).map(([o, n]) => sha256Hex(d.subarray(o, o + n)));
    const inserted = Buffer.concat([
      original.subarray(0, 1000),
      seededBytes(7, 100),
      original.subarray(1000),
    ]);
    const fixedAfter = new Set(fixed(inserted));
    expect(fixed(original).filter((h) => fixedAfter.has(h)).length).toBeLessThanOrEqual(1);
  });
});
