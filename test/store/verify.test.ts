import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ChunkRef, type Manifest, readJournal, type Store, verifyStore } from '../../src/store/index.js';
import { manifestPath } from '../../src/store/layout.js';
import { compressibleBytes, corruptByte, seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { chunkSpot, commitPaths, corruptChunk, openNewStore, truncateChunk } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

/** Checkpoints #1 (a.bin), #2 (b.bin) and #3 (log.txt, compressible): no chunk is shared. */
async function storeOfThree(): Promise<{ store: Store; manifests: Manifest[] }> {
  const base = tempDir();
  const store = await openNewStore(join(base, 'store'));
  writeFileDeep(join(base, 'work/a.bin'), seededBytes(1, 70_000));
  writeFileDeep(join(base, 'work/b.bin'), seededBytes(2, 80_000));
  writeFileDeep(join(base, 'work/log.txt'), compressibleBytes(200_000));
  const manifests = [
    await commitPaths(store, join(base, 'work'), ['a.bin'], 10),
    await commitPaths(store, join(base, 'work'), ['b.bin'], 20),
    await commitPaths(store, join(base, 'work'), ['log.txt'], 30),
  ];
  return { store, manifests };
}

function onlyChunk(m: Manifest): ChunkRef {
  const e = m.entries.find((x) => x.type === 'file');
  if (e?.type !== 'file' || e.chunks.length !== 1) throw new Error('expected one file of one chunk');
  return e.chunks[0]!;
}

const verdicts = (report: Awaited<ReturnType<typeof verifyStore>>): string[] =>
  report.checkpoints.map((c) => `#${c.seq}:${c.ok ? 'ok' : 'DAMAGED'}`);

describe('verifyStore', () => {
  it('reports a clean store as OK, shallow and deep, with progress up to the total', async () => {
    const { store, manifests } = await storeOfThree();
    expect(manifests[2]!.entries[0]).toMatchObject({ chunks: [{ z: 1 }] });
    const shallow = await verifyStore(store);
    expect(shallow).toMatchObject({ deep: false, damaged: false });
    expect(shallow.checkpoints).toEqual([
      { seq: 1, step: 10, ok: true },
      { seq: 2, step: 20, ok: true },
      { seq: 3, step: 30, ok: true },
    ]);
    const progress: Array<[number, number]> = [];
    const deep = await verifyStore(store, {
      deep: true,
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(deep).toMatchObject({
      deep: true,
      damaged: false,
      leftovers: { tmpFiles: 0, orphanChunks: 0, bytes: 0 },
    });
    expect(progress.at(-1)).toEqual([350_000, 350_000]);
    expect(deep.journal.damagedLines).toEqual([]);
  });

  it('a flipped bit in a raw chunk passes the shallow check; the deep check finds it', async () => {
    const { store, manifests } = await storeOfThree();
    corruptChunk(store.root, onlyChunk(manifests[1]!), 40_000);
    const shallow = await verifyStore(store);
    expect(shallow.damaged).toBe(false);
    const deep = await verifyStore(store, { deep: true });
    expect(deep.damaged).toBe(true);
    expect(verdicts(deep)).toEqual(['#1:ok', '#2:DAMAGED', '#3:ok']);
    expect(deep.checkpoints[1]!.problem).toMatch(/is corrupt: its content hashes to/);
  });

  it('a flipped bit in a compressed chunk is found by the deep check', async () => {
    const { store, manifests } = await storeOfThree();
    corruptChunk(store.root, onlyChunk(manifests[2]!), onlyChunk(manifests[2]!).s! - 30);
    const deep = await verifyStore(store, { deep: true });
    expect(verdicts(deep)).toEqual(['#1:ok', '#2:ok', '#3:DAMAGED']);
  });

  it('a truncated chunk is reported by the shallow check', async () => {
    const { store, manifests } = await storeOfThree();
    truncateChunk(store.root, onlyChunk(manifests[0]!), 100);
    const shallow = await verifyStore(store);
    expect(shallow.damaged).toBe(true);
    expect(verdicts(shallow)).toEqual(['#1:DAMAGED', '#2:ok', '#3:ok']);
    expect(shallow.checkpoints[0]!.problem).toMatch(
      /is 69900 bytes, chunk [0-9a-f]{64} needs 70000 \(truncated\)/,
    );
  });

  it('a missing chunk and a corrupt manifest are reported by the shallow check', async () => {
    const { store, manifests } = await storeOfThree();
    rmSync(chunkSpot(store.root, onlyChunk(manifests[2]!)).path);
    corruptByte(manifestPath(store.root, 1), 10);
    const shallow = await verifyStore(store);
    expect(verdicts(shallow)).toEqual(['#1:DAMAGED', '#2:ok', '#3:DAMAGED']);
    expect(shallow.checkpoints[0]!.problem).toMatch(/does not match its checksum/);
    expect(shallow.checkpoints[2]!.problem).toMatch(/is missing/);
  });

  it('counts a damaged journal line as damage, but not a torn last line', async () => {
    const { store } = await storeOfThree();
    appendFileSync(join(store.root, 'journal.log'), '0123456789abcdef {"time":"2024-01-0');
    const torn = await verifyStore(store);
    expect(torn).toMatchObject({ damaged: false, journal: { tornTail: true, damagedLines: [] } });

    appendFileSync(join(store.root, 'journal.log'), '\n0123456789abcdef {"type":"x"}\n');
    const { events } = await readJournal(store.root);
    const damaged = await verifyStore(store);
    expect(damaged.damaged).toBe(true);
    // The cut-off line stays harmless; the whole line with a wrong checksum is damage.
    expect(damaged.journal.tornLines).toEqual([events.length + 1]);
    expect(damaged.journal.damagedLines).toEqual([events.length + 2]);
    expect(verdicts(damaged)).toEqual(['#1:ok', '#2:ok', '#3:ok']);
  });
});
