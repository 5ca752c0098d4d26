import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANCHOR_EVERY, anchoredChunks } from '../../src/store/chunker.js';
import { HASH_IN_WORKERS_FROM } from '../../src/store/hash-workers.js';
import { type FileEntry, materializeFiles } from '../../src/store/index.js';
import { seededBytes } from '../helpers/bytes.js';
import { commitPaths, openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

describe('committing a large file (blocks scanned in worker threads)', () => {
  it('cuts exactly where one pass over the whole file cuts, and restores byte-exact', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    // Random bytes with a zero run across a block boundary (all hashes of its windows equal).
    const data = seededBytes(31, 2 * HASH_IN_WORKERS_FROM + (9 << 20) + 12345);
    data.fill(0, (16 << 20) - (3 << 20), (16 << 20) + (2 << 20));
    writeFileSync(join(base, 'big.bin'), data);
    const m = await commitPaths(store, base, ['big.bin'], 1);
    const entry = m.entries[0] as FileEntry;
    expect(entry.chunks.map((c) => c.n)).toEqual(anchoredChunks(data));
    await materializeFiles(store.root, m, join(base, 'out'));
    expect(readFileSync(join(base, 'out', 'big.bin')).equals(data)).toBe(true);
  });

  it('cuts files of one repeated byte, ending on, before and after a block end, like one pass', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    for (const size of [48 << 20, (48 << 20) + 1, (48 << 20) - 1, (32 << 20) + ANCHOR_EVERY]) {
      const data = Buffer.alloc(size, 7);
      writeFileSync(join(base, 'same.bin'), data);
      const m = await commitPaths(store, base, ['same.bin'], size);
      expect((m.entries[0] as FileEntry).chunks.map((c) => c.n)).toEqual(anchoredChunks(data));
      await materializeFiles(store.root, m, join(base, `out-${size}`));
      expect(readFileSync(join(base, `out-${size}`, 'same.bin')).equals(data)).toBe(true);
    }
  });
});
