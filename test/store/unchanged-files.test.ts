import { promises as fsp, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RACY_MARGIN_MS } from '../../src/store/capture-files.js';
import type { FileEntry } from '../../src/store/index.js';
import { seededBytes } from '../helpers/bytes.js';
import { chunkSpot, commitPaths, openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const noise = (bytes: number, seed: number) => seededBytes(seed, bytes);

/** Paths `fsp.open` was asked to open while `fn` ran. */
async function openedDuring(fn: () => Promise<unknown>): Promise<string[]> {
  const spy = vi.spyOn(fsp, 'open');
  try {
    await fn();
    return spy.mock.calls.map((call) => String(call[0]));
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

/** A new store and an empty working directory beside it. */
async function storeAndWork() {
  const base = tempDir();
  const store = await openNewStore(join(base, 'store'));
  const work = join(base, 'work');
  await fsp.mkdir(work);
  return { store, work };
}

describe('a commit skips reading files unchanged since the previous checkpoint', () => {
  it('takes an unchanged file from the previous checkpoint without opening it, and reads a changed one', async () => {
    const { store, work } = await storeAndWork();
    writeFileSync(join(work, 'big.bin'), noise(3 << 20, 1));
    writeFileSync(join(work, 'small.txt'), 'hello\n');
    // Older than the racy margin before the first commit, so that commit can vouch for them.
    await sleep(RACY_MARGIN_MS + 100);
    const first = await commitPaths(store, work, ['big.bin', 'small.txt'], 1);
    const firstBig = first.entries.find((e) => e.type === 'file' && e.path === 'big.bin') as FileEntry;
    expect(firstBig.ino).toBeTypeOf('number');
    expect(firstBig.ctimeMs).toBeTypeOf('number');

    writeFileSync(join(work, 'small.txt'), 'changed\n');
    let second: Awaited<ReturnType<typeof commitPaths>> | undefined;
    const opened = await openedDuring(async () => {
      second = await commitPaths(store, work, ['big.bin', 'small.txt'], 2);
    });
    expect(opened).not.toContain(join(work, 'big.bin'));
    expect(opened).toContain(join(work, 'small.txt'));
    const secondBig = second!.entries.find((e) => e.type === 'file' && e.path === 'big.bin') as FileEntry;
    expect(secondBig.hash).toBe(firstBig.hash);
    expect(second!.stats.bytes).toBe((3 << 20) + 'changed\n'.length);
    expect(second!.stats.newChunks).toBe(1);
  });

  it('reads a file again when its ctime moved, even with size and mtime put back', async () => {
    const { store, work } = await storeAndWork();
    const path = join(work, 'state.bin');
    writeFileSync(path, noise(1 << 20, 2));
    await sleep(RACY_MARGIN_MS + 100);
    const first = await commitPaths(store, work, ['state.bin'], 1);
    const entry = first.entries[0] as FileEntry;
    // Same size, mtime set back: only the ctime tells the bytes changed.
    writeFileSync(path, noise(1 << 20, 3));
    utimesSync(path, entry.mtimeMs / 1000, entry.mtimeMs / 1000);
    const opened = await openedDuring(() => commitPaths(store, work, ['state.bin'], 2));
    expect(opened).toContain(path);
  });

  it('reads a file whose ctime was within the racy margin of the previous commit', async () => {
    const { store, work } = await storeAndWork();
    writeFileSync(join(work, 'fresh.bin'), noise(1 << 20, 4));
    await commitPaths(store, work, ['fresh.bin'], 1);
    const opened = await openedDuring(() => commitPaths(store, work, ['fresh.bin'], 2));
    expect(opened).toContain(join(work, 'fresh.bin'));
  });

  it('reads the file again when a chunk of the previous checkpoint was damaged since', async () => {
    const { store, work } = await storeAndWork();
    writeFileSync(join(work, 'data.bin'), noise(1 << 20, 5));
    await sleep(RACY_MARGIN_MS + 100);
    const first = await commitPaths(store, work, ['data.bin'], 1);
    const ref = (first.entries[0] as FileEntry).chunks[0]!;
    const pack = chunkSpot(store.root, ref).path;
    await fsp.rm(pack);
    let second: Awaited<ReturnType<typeof commitPaths>> | undefined;
    const opened = await openedDuring(async () => {
      second = await commitPaths(store, work, ['data.bin'], 2);
    });
    expect(opened).toContain(join(work, 'data.bin'));
    expect(second!.stats.newChunks).toBe((first.entries[0] as FileEntry).chunks.length);
    await fsp.access(chunkSpot(store.root, (second!.entries[0] as FileEntry).chunks[0]!).path);
  });
});
