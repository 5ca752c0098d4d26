import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createWasmScanner } from '../../src/store/cdc-wasm.js';
import {
  CDC_MAX_SIZE,
  CDC_MIN_SIZE,
  CutChain,
  cdcCut,
  FIXED_CHUNK_SIZE,
  fixedChunks,
  scanCandidates,
} from '../../src/store/chunker.js';
import { sha256Hex } from '../../src/store/hash.js';
import { seededBytes } from '../helpers/bytes.js';

/** Cuts all of `data` the way a reader of a complete buffer would. */
function cdcAll(data: Uint8Array): number[] {
  const sizes: number[] = [];
  for (let start = 0; start < data.byteLength; ) {
    const n = cdcCut(data, start, data.byteLength, true);
    if (n <= 0) throw new Error(`cdcCut returned ${n} at ${start} with final=true`);
    sizes.push(n);
    start += n;
  }
  return sizes;
}

/** Cuts `data` while it "arrives" in blocks of the given sizes, as a streaming reader does. */
function cdcStreaming(data: Uint8Array, blocks: readonly number[]): number[] {
  const sizes: number[] = [];
  let start = 0;
  let end = 0;
  let b = 0;
  while (start < data.byteLength) {
    const final = end === data.byteLength;
    const n = final || end > start ? cdcCut(data, start, end, final) : 0;
    if (n > 0) {
      sizes.push(n);
      start += n;
    } else {
      end = Math.min(data.byteLength, end + (blocks[b++ % blocks.length] ?? 1));
    }
  }
  return sizes;
}

const wasmScan = createWasmScanner();

/** Cuts `data` the way a file commit does: blocks scanned separately, candidates chained. */
function cdcByCandidates(
  data: Uint8Array,
  blocks: readonly number[],
  scan: typeof scanCandidates = scanCandidates,
): number[] {
  const chain = new CutChain();
  const sizes: number[] = [];
  let end = 0;
  let b = 0;
  for (;;) {
    const next = Math.min(data.byteLength, end + (blocks[b++ % blocks.length] ?? 1));
    const from = Math.min(end, 31);
    // Each block is a buffer of its own, with up to 31 bytes of the previous one in front.
    const block = data.slice(end - from, next);
    chain.add(scan(block, from, block.byteLength), end - from);
    end = next;
    const final = end === data.byteLength;
    for (;;) {
      const n = chain.next(end, final);
      if (n === 0) break;
      sizes.push(n);
      chain.start += n;
      if (chain.start === end) break;
    }
    if (final) return sizes;
  }
}

function chunkHashes(data: Uint8Array, sizes: readonly number[]): string[] {
  let at = 0;
  return sizes.map((n) => {
    const h = sha256Hex(data.subarray(at, at + n));
    at += n;
    return h;
  });
}

/** Random data, all zeros (no cut point ever matches) or random with long zero runs. */
const dataArb = fc
  .record({
    kind: fc.constantFrom('random', 'zeros', 'mixed'),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    length: fc.oneof(fc.integer({ min: 0, max: CDC_MIN_SIZE + 10 }), fc.integer({ min: 0, max: 11 << 20 })),
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

describe('cdcCut', () => {
  it('chunks concatenate back to the data, with sizes in [min, max] except the last', () => {
    fc.assert(
      fc.property(dataArb, (data) => {
        const sizes = cdcAll(data);
        const pieces: Buffer[] = [];
        let at = 0;
        for (const n of sizes) {
          pieces.push(data.subarray(at, at + n));
          at += n;
        }
        expect(Buffer.concat(pieces).equals(data)).toBe(true);
        sizes.forEach((n, i) => {
          expect(n).toBeLessThanOrEqual(CDC_MAX_SIZE);
          if (i < sizes.length - 1) expect(n).toBeGreaterThanOrEqual(CDC_MIN_SIZE);
          else expect(n).toBeGreaterThan(0);
        });
      }),
      { numRuns: 25 },
    );
  });

  /** For random data cut into 1–4 blocks of at least `minBlock` bytes: `cut` gives one sequential pass's cuts. */
  function expectSameCutsInBlocks(
    minBlock: number,
    cut: (data: Uint8Array, blocks: number[]) => unknown,
    numRuns: number,
  ): void {
    const blocksArb = fc.array(fc.integer({ min: minBlock, max: 9 << 20 }), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(dataArb, blocksArb, (data, blocks) => {
        expect(cut(data, blocks)).toEqual(cdcAll(data));
      }),
      { numRuns },
    );
  }

  it('finds the same boundaries whether the data arrives at once or in blocks', () => {
    expectSameCutsInBlocks(64 << 10, (data, blocks) => cdcStreaming(data, blocks), 15);
  });

  it('blocks scanned on their own and chained give exactly the cuts of one sequential pass', () => {
    expectSameCutsInBlocks(1, (data, blocks) => cdcByCandidates(data, blocks), 15);
  });

  it('the WebAssembly scan finds exactly the candidates of the JavaScript one', () => {
    expect(wasmScan).toBeDefined();
    fc.assert(
      fc.property(dataArb, fc.integer({ min: 0, max: 31 }), (data, from) => {
        const start = Math.min(from, data.byteLength);
        expect([...wasmScan!(data, start, data.byteLength)]).toEqual([
          ...scanCandidates(data, start, data.byteLength),
        ]);
      }),
      { numRuns: 20 },
    );
    // With room for one candidate per call, the scan stops, is drained and resumes at each one.
    const one = createWasmScanner(1)!;
    const data = seededBytes(77, 6 << 20);
    expect([...one(data, 5, data.byteLength)]).toEqual([...scanCandidates(data, 5, data.byteLength)]);
  });

  it('blocks scanned with WebAssembly and chained give the cuts of one sequential pass', () => {
    expectSameCutsInBlocks(1 << 10, (data, blocks) => cdcByCandidates(data, blocks, wasmScan), 10);
  });

  it('asks for more data (returns 0) until it has a max-size window or the end', () => {
    const data = Buffer.alloc(CDC_MAX_SIZE + 1);
    expect(cdcCut(data, 0, CDC_MIN_SIZE, false)).toBe(0);
    expect(cdcCut(data, 0, CDC_MAX_SIZE - 1, false)).toBe(0);
    expect(cdcCut(data, 0, CDC_MAX_SIZE, false)).toBe(CDC_MAX_SIZE);
    expect(cdcCut(data, 0, 10, true)).toBe(10);
  });

  it('resists shifts: inserting bytes near the start of 20 MiB leaves most chunks unchanged', () => {
    const original = seededBytes(20240601, 20 << 20);
    const inserted = Buffer.concat([
      original.subarray(0, 1000),
      seededBytes(7, 100),
      original.subarray(1000),
    ]);
    const before = chunkHashes(original, cdcAll(original));
    const after = new Set(chunkHashes(inserted, cdcAll(inserted)));
    const kept = before.filter((h) => after.has(h)).length;
    expect(before.length).toBeGreaterThan(8);
    expect(kept).toBeGreaterThanOrEqual(before.length - 2);

    // Control: fixed-size chunks lose (almost) everything after such an insertion.
    const fixed = (d: Buffer): string[] =>
      fixedChunks(d.byteLength).map(([o, n]) => sha256Hex(d.subarray(o, o + n)));
    const fixedAfter = new Set(fixed(inserted));
    expect(fixed(original).filter((h) => fixedAfter.has(h)).length).toBeLessThanOrEqual(1);
  });
});
