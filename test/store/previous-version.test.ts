import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANCHOR_EVERY, ANCHOR_WINDOW, anchoredChunks } from '../../src/store/chunker.js';
import { xxh64Hex } from '../../src/store/fast-hash.js';
import { HASH_IN_WORKERS_FROM } from '../../src/store/hash-workers.js';
import { type FileEntry, type Manifest, materializeFiles, type Store } from '../../src/store/index.js';
import { manifestPath } from '../../src/store/layout.js';
import { serializeManifest } from '../../src/store/manifest.js';
import { seededBytes } from '../helpers/bytes.js';
import { commitPaths, openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const MiB = 1 << 20;

/** Commits `data` as big.bin (step `step`), checks it restores byte-exact, and returns the manifest. */
async function commitData(store: Store, base: string, data: Buffer, step: number): Promise<Manifest> {
  writeFileSync(join(base, 'big.bin'), data);
  const m = await commitPaths(store, base, ['big.bin'], step);
  await materializeFiles(store.root, m, join(base, `out-${step}`));
  expect(readFileSync(join(base, `out-${step}`, 'big.bin')).equals(data)).toBe(true);
  return m;
}

/** A temporary directory with a new store in it. */
async function newStore(): Promise<{ base: string; store: Store }> {
  const base = tempDir();
  return { base, store: await openNewStore(join(base, 'store')) };
}

function chunksOf(m: Manifest): FileEntry['chunks'] {
  return (m.entries[0] as FileEntry).chunks;
}

describe('committing a new version of a file (cut like the previous one where it did not change)', () => {
  it('a region rewritten in place, several chunks long, costs its own chunks and one more', async () => {
    const { base, store } = await newStore();
    // Large enough to be hashed in worker threads, in several blocks.
    const original = seededBytes(41, 2 * HASH_IN_WORKERS_FROM + 5 * MiB + 321);
    const first = await commitData(store, base, original, 1);
    // Each new chunk's reference records the xxh64 of its bytes.
    let at = 0;
    for (const c of chunksOf(first)) {
      expect(c.x).toBe(xxh64Hex(original.subarray(at, at + c.n)));
      at += c.n;
    }

    // 1 % of the file, then 10 % of it, each rewritten in the middle. NOTE: the second is placed
    // where plain anchored cutting (no previous version) falls out of step after the region and
    // rewrites the rest of the file (37 chunks, found by search); the first where it does not.
    let data = original;
    let step = 1;
    for (const [length, at, seed] of [
      [Math.floor(original.byteLength / 100), Math.floor(original.byteLength / 2) - 77_777, 101],
      [7 * MiB + 12345, 34 * MiB + 4 * 13331, 104],
    ] as const) {
      data = Buffer.from(data);
      seededBytes(seed, length).copy(data, at);
      const m = await commitData(store, base, data, ++step);
      const chunksOver = Math.ceil(length / (ANCHOR_EVERY - ANCHOR_WINDOW)) + 2;
      expect(m.stats.newChunks, `rewrote ${length} bytes at ${at}`).toBeLessThanOrEqual(chunksOver);
      expect(m.stats.writtenBytes).toBeLessThanOrEqual(length + 2 * ANCHOR_EVERY + 4096);
    }
  });

  it('a smaller file (hashed on this thread) too, where plain anchored cutting would lose the rest', async () => {
    const { base, store } = await newStore();
    const original = seededBytes(41, 24 * MiB + 321);
    await commitData(store, base, original, 1);
    const data = Buffer.from(original);
    // Plain anchored cutting loses 17 chunks here (found by search).
    seededBytes(107, 2 * MiB + 4321).copy(data, 8 * MiB + 7 * 13331);
    const m = await commitData(store, base, data, 2);
    expect(m.stats.newChunks).toBeLessThanOrEqual(5);
  });

  it('scattered small changes cost one or two chunks each', async () => {
    const { base, store } = await newStore();
    const original = seededBytes(42, 40 * MiB + 999);
    await commitData(store, base, original, 1);
    const data = Buffer.from(original);
    for (let k = 0; k < 10; k++) seededBytes(200 + k, 40_000).copy(data, k * 4 * MiB + 5000);
    const m = await commitData(store, base, data, 2);
    expect(m.stats.newChunks).toBeLessThanOrEqual(20);
  });

  it('after an insertion or a deletion, the chunks after it are kept', async () => {
    const { base, store } = await newStore();
    const original = seededBytes(43, 48 * MiB + 4321);
    await commitData(store, base, original, 1);
    // A rewritten region first (the cuts after it follow the previous version's), then shifts.
    const changed = Buffer.from(original);
    seededBytes(7, 3 * MiB).copy(changed, 20 * MiB);
    await commitData(store, base, changed, 2);
    const inserted = Buffer.concat([
      changed.subarray(0, 10 * MiB + 7),
      seededBytes(8, 4096),
      changed.subarray(10 * MiB + 7),
    ]);
    const afterInsert = await commitData(store, base, inserted, 3);
    expect(afterInsert.stats.newChunks).toBeLessThanOrEqual(2);
    const deleted = Buffer.concat([inserted.subarray(0, 30 * MiB), inserted.subarray(30 * MiB + 10_000)]);
    const afterDelete = await commitData(store, base, deleted, 4);
    expect(afterDelete.stats.newChunks).toBeLessThanOrEqual(2);
  });

  it('a file appended to is cut as one pass would cut it, without gathering short chunks', async () => {
    const { base, store } = await newStore();
    let data = seededBytes(44, 3 * MiB + 5);
    let m = await commitData(store, base, data, 1);
    for (let step = 2; step <= 6; step++) {
      data = Buffer.concat([data, seededBytes(300 + step, 700_000)]);
      m = await commitData(store, base, data, step);
      // The old last chunk (short) is cut anew: only that and the appended bytes are written.
      expect(m.stats.writtenBytes).toBeLessThanOrEqual(700_000 + ANCHOR_EVERY);
    }
    expect(chunksOf(m).map((c) => c.n)).toEqual(anchoredChunks(data));
  });

  it('a wrong `x` in the previous manifest costs a rewrite, never wrong bytes', async () => {
    const { base, store } = await newStore();
    const original = seededBytes(45, 6 * MiB + 17);
    const first = await commitData(store, base, original, 1);
    // Every hint of checkpoint #1 is the xxh64 of other bytes, under a valid checksum.
    const wrong = xxh64Hex(Buffer.from('not these bytes'));
    const forged = {
      ...first,
      entries: [
        { ...(first.entries[0] as FileEntry), chunks: chunksOf(first).map((c) => ({ ...c, x: wrong })) },
      ],
    };
    writeFileSync(manifestPath(store.root, first.seq), serializeManifest(forged));
    const reopened = await openNewStore(join(base, 'store'));
    const data = Buffer.from(original);
    data[3 * MiB] = data[3 * MiB]! ^ 1;
    const second = await commitData(reopened, base, data, 2);
    // Nothing was recognised: every chunk was hashed, and the unchanged ones deduplicated.
    expect(second.stats.newChunks).toBeLessThanOrEqual(2);
    expect(chunksOf(second).map((c) => c.n)).toEqual(anchoredChunks(data));
  });
});
