import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANCHOR_EVERY, anchoredChunks } from '../../src/store/chunker.js';
import { HASH_IN_WORKERS_FROM } from '../../src/store/hash-workers.js';
import {
  acquireLease,
  commitFiles,
  FileChangedError,
  type FileEntry,
  materializeFiles,
} from '../../src/store/index.js';
import { PACKS_DIR } from '../../src/store/layout.js';
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

  it('a commit that fails after some chunks were written leaves none of them in the store', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    await commitPaths(store, base, [], 1);
    writeFileSync(join(base, 'a.bin'), seededBytes(32, 40 << 20));
    writeFileSync(join(base, 'b.bin'), seededBytes(33, 1000));
    const b = statSync(join(base, 'b.bin'));
    const lease = await acquireLease(store.root);
    try {
      // b.bin (after a.bin) differs from what a completeness check saw: the commit fails.
      const expected = new Map([['b.bin', { size: b.size + 1, mtimeMs: b.mtimeMs, ino: b.ino }]]);
      await expect(
        commitFiles(store, lease, base, ['a.bin', 'b.bin'], { step: 2, compression: 'off', expected }),
      ).rejects.toThrow(FileChangedError);
    } finally {
      await lease.release();
    }
    const packs = join(store.root, PACKS_DIR);
    expect(existsSync(packs) ? readdirSync(packs) : []).toEqual([]);
    expect(await store.listSeqs()).toEqual([1]);
  });
});
