import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCAN_IN_WORKERS_FROM } from '../../src/store/cdc-scan.js';
import { cdcCut } from '../../src/store/chunker.js';
import { type FileEntry, materializeFiles } from '../../src/store/index.js';
import { seededBytes } from '../helpers/bytes.js';
import { commitPaths, openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

function cdcAll(data: Uint8Array): number[] {
  const sizes: number[] = [];
  for (let start = 0; start < data.byteLength; ) {
    const n = cdcCut(data, start, data.byteLength, true);
    sizes.push(n);
    start += n;
  }
  return sizes;
}

describe('committing a large file (blocks scanned in worker threads)', () => {
  it('cuts exactly where one sequential pass cuts, and restores byte-exact', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    // Random bytes with a zero run across a block boundary (no cut point inside it).
    const data = seededBytes(31, 2 * SCAN_IN_WORKERS_FROM + (9 << 20) + 12345);
    data.fill(0, (16 << 20) - (3 << 20), (16 << 20) + (2 << 20));
    writeFileSync(join(base, 'big.bin'), data);
    const m = await commitPaths(store, base, ['big.bin'], 1);
    const entry = m.entries[0] as FileEntry;
    expect(entry.chunks.map((c) => c.n)).toEqual(cdcAll(data));
    await materializeFiles(store.root, m, join(base, 'out'));
    expect(readFileSync(join(base, 'out', 'big.bin')).equals(data)).toBe(true);
  });

  it('cuts a file of one repeated byte (no cut points: every chunk ends at the max size, on block ends)', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    for (const size of [48 << 20, (48 << 20) + 1, (48 << 20) - 1]) {
      const data = Buffer.alloc(size, 7);
      writeFileSync(join(base, 'same.bin'), data);
      const m = await commitPaths(store, base, ['same.bin'], size);
      expect((m.entries[0] as FileEntry).chunks.map((c) => c.n)).toEqual(cdcAll(data));
      await materializeFiles(store.root, m, join(base, `out-${size}`));
      expect(readFileSync(join(base, `out-${size}`, 'same.bin')).equals(data)).toBe(true);
    }
  });
});
