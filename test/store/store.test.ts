import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, IntegrityError, NoStoreError, NotFoundError } from '../../src/errors.js';
import { acquireLease, appendJournal, type ChunkRef, type Manifest, Store } from '../../src/store/index.js';
import { manifestPath } from '../../src/store/layout.js';
import { corruptByte, seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { chunkSpot, commitPaths, corruptChunk, openNewStore, truncateChunk, walk } from '../helpers/store.js';
import { useTempDirs, withUmask } from '../helpers/tmp.js';

const tempDir = useTempDirs();

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** A store with three checkpoints of `data.bin` (different random bytes each) plus a shared file. */
async function threeCheckpoints(): Promise<{ store: Store; work: string; manifests: Manifest[] }> {
  const base = tempDir();
  const work = join(base, 'work');
  const store = await openNewStore(join(base, 'store'));
  writeFileDeep(join(work, 'shared.txt'), 'same in every checkpoint\n');
  const manifests: Manifest[] = [];
  for (let i = 1; i <= 3; i++) {
    writeFileDeep(join(work, 'data.bin'), seededBytes(i, 50_000));
    manifests.push(await commitPaths(store, work, ['data.bin', 'shared.txt'], i * 10));
  }
  return { store, work, manifests };
}

/** The first chunk of `data.bin` in a checkpoint. */
function dataChunk(m: Manifest): ChunkRef {
  const entry = m.entries.find((e) => e.type === 'file' && e.path === 'data.bin');
  if (entry?.type !== 'file') throw new Error('no data.bin');
  return entry.chunks[0]!;
}

describe('Store.open', () => {
  it('without create on a missing directory: NoStoreError naming it, nothing created', async () => {
    const dir = join(tempDir(), 'nope');
    const error = await errorOf(Store.open(dir));
    expect(error).toBeInstanceOf(NoStoreError);
    expect(error.message).toBe(`No store at \`${dir}\`.`);
    expect((error as NoStoreError).hint).toMatch(/--store DIR or set CKPT_STORE/);
    expect(existsSync(dir)).toBe(false);
  });

  it('on a directory that is not a store: NoStoreError naming it, directory untouched', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const error = await errorOf(Store.open(dir));
    expect(error).toBeInstanceOf(NoStoreError);
    expect(error.message).toContain(`\`${dir}\` is not a ckpt store`);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('refuses a store of a newer format version, or a broken identity file, with FormatError', async () => {
    const dir = tempDir();
    await openNewStore(dir);
    writeFileSync(join(dir, 'ckpt-store.json'), '{"format":"ckpt-store","version":99}\n');
    const error = await errorOf(Store.open(dir));
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toMatch(/format version 99; this ckpt reads up to version 2/);
    expect((error as FormatError).hint).toMatch(/Upgrade ckpt/);
    await expect(Store.open(dir, { create: true })).rejects.toThrow(FormatError);

    writeFileSync(join(dir, 'ckpt-store.json'), '{"format":"ckpt-st');
    await expect(Store.open(dir)).rejects.toThrow(/not valid JSON/);
    writeFileSync(join(dir, 'ckpt-store.json'), '{"format":"something-else","version":1}');
    await expect(Store.open(dir)).rejects.toThrow(/does not describe a ckpt store/);
  });

  it('with create makes the skeleton once and then reopens it unchanged', async () => {
    const dir = join(tempDir(), 'a', 'store');
    const store = await Store.open(dir, { create: true });
    expect(store.root).toBe(dir);
    expect(readdirSync(dir).sort()).toEqual(['chunks', 'ckpt-store.json', 'manifests']);
    const id = readFileSync(join(dir, 'ckpt-store.json'), 'utf8');
    expect(JSON.parse(id)).toMatchObject({ format: 'ckpt-store', version: 2 });
    await Store.open(dir, { create: true });
    await Store.open(dir);
    expect(readFileSync(join(dir, 'ckpt-store.json'), 'utf8')).toBe(id);
  });

  it('marks a version 1 store as version 2 at its first new checkpoint, keeping what it held', async () => {
    const dir = tempDir();
    const store = await openNewStore(dir);
    const work = tempDir();
    writeFileSync(join(work, 'a.txt'), 'one');
    await commitPaths(store, work, ['a.txt'], 1);
    writeFileSync(
      join(dir, 'ckpt-store.json'),
      '{"format":"ckpt-store","version":1,"created":"2026-01-01T00:00:00.000Z"}\n',
    );
    const old = await Store.open(dir);
    writeFileSync(join(work, 'a.txt'), 'two');
    await commitPaths(old, work, ['a.txt'], 2);
    const id = JSON.parse(readFileSync(join(dir, 'ckpt-store.json'), 'utf8'));
    expect(id).toMatchObject({ format: 'ckpt-store', version: 2, created: '2026-01-01T00:00:00.000Z' });
    expect((await old.candidates()).usable.map((m) => m.seq)).toEqual([2, 1]);
  });

  it('creates files 0600 and directories 0700 whatever the umask allows', async () => {
    await withUmask(0o022, async () => {
      const base = tempDir();
      writeFileDeep(join(base, 'work/f.bin'), seededBytes(1, 300_000), 0o644);
      const store = await openNewStore(join(base, 'store'));
      await commitPaths(store, join(base, 'work'), ['f.bin'], 1);
      await (appendJournal as unknown as (root: string, type: string) => Promise<void>)(store.root, 'note');
      const lease = await acquireLease(store.root);
      const entries = walk(store.root);
      await lease.release();
      expect(entries.filter((e) => e.isDir).length).toBeGreaterThanOrEqual(4);
      expect(entries.map((e) => e.path)).toContain(join(store.root, 'lease.json'));
      expect(entries.map((e) => e.path)).toContain(join(store.root, 'journal.log'));
      for (const e of entries)
        expect([e.path, e.mode.toString(8)]).toEqual([e.path, e.isDir ? '700' : '600']);
    });
  });
});

describe('Store reading', () => {
  it('candidates() skips a corrupt newest manifest and one with a deleted chunk, with reasons', async () => {
    const { store, manifests } = await threeCheckpoints();
    corruptByte(manifestPath(store.root, 3), 30);
    rmSync(chunkSpot(store.root, dataChunk(manifests[1]!)).path);

    const { usable, skipped } = await store.candidates();
    expect(usable.map((m) => m.seq)).toEqual([1]);
    expect(skipped).toEqual([
      { seq: 3, reason: 'Manifest #3 does not match its checksum (corrupt or torn).' },
      { seq: 2, reason: expect.stringMatching(/^pack [0-9a-f]{32} of chunk [0-9a-f]{64} is missing$/) },
    ]);
    expect((await store.resolve('latest')).seq).toBe(1);
    await expect(store.resolve('latest~1')).rejects.toThrow(NotFoundError);
    // An explicit id reads the manifest without the chunk check.
    expect((await store.resolve('#2')).step).toBe(20);
    await expect(store.resolve('3')).rejects.toThrow(IntegrityError);
  });

  it('candidates() skips a checkpoint with a truncated raw chunk', async () => {
    const { store, manifests } = await threeCheckpoints();
    truncateChunk(store.root, dataChunk(manifests[2]!), 1);
    const { usable, skipped } = await store.candidates();
    expect(usable.map((m) => m.seq)).toEqual([2, 1]);
    expect(skipped).toEqual([
      {
        seq: 3,
        reason: expect.stringMatching(
          /^pack [0-9a-f]{32} is \d+ bytes, chunk [0-9a-f]{64} needs \d+ \(truncated\)$/,
        ),
      },
    ]);
  });

  it('checkChunksDeep finds a rotten chunk of the right size; health({ deepFirst }) hashes until one verifies', async () => {
    const { store, manifests } = await threeCheckpoints();
    corruptChunk(store.root, dataChunk(manifests[2]!));
    expect(await store.checkChunksPresent(manifests[2]!)).toBeUndefined();
    expect(await store.checkChunksDeep(manifests[2]!)).toMatch(/^Chunk [0-9a-f]{64} is corrupt: /);
    expect(await store.checkChunksDeep(manifests[1]!)).toBeUndefined();
    const health = await store.health({ deepFirst: true });
    expect(
      health.map(({ seq, verified, problem }) => ({ seq, verified, bad: problem !== undefined })),
    ).toEqual([
      { seq: 1, verified: 'shallow', bad: false },
      { seq: 2, verified: 'deep', bad: false },
      { seq: 3, verified: 'deep', bad: true },
    ]);
  });

  it('newestManifest hands out the manifest chunkIndex parsed, and reads an older one once the newest is gone', async () => {
    const { store } = await threeCheckpoints();
    await store.chunkIndex();
    const newest = await store.newestManifest();
    expect(newest?.seq).toBe(3);
    expect(await store.newestManifest()).toBe(newest);
    await store.removeManifests([3]);
    expect((await store.newestManifest())?.seq).toBe(2);
    corruptByte(manifestPath(store.root, 2), 30);
    const reopened = await Store.open(store.root);
    expect(await reopened.newestManifest()).toBeUndefined();
  });

  it('resolves latest~N and ids, and names what does not exist', async () => {
    const { store } = await threeCheckpoints();
    expect((await store.resolve('latest~2')).seq).toBe(1);
    expect((await store.resolve('2')).seq).toBe(2);
    await expect(store.resolve('999')).rejects.toThrow(/Checkpoint 999 does not exist/);
    await expect(store.resolve('abc')).rejects.toThrow(/is not a checkpoint id/);
    await expect(store.resolve('0')).rejects.toThrow(NotFoundError);
  });

  it('refuses a manifest whose seq differs from its file name', async () => {
    const { store } = await threeCheckpoints();
    copyFileSync(manifestPath(store.root, 2), manifestPath(store.root, 4));
    await expect(store.readManifest(4)).rejects.toThrow('Manifest #4 says it is #2.');
    const scanned = await store.scan();
    expect(scanned.map((s) => ('problem' in s ? `#${s.seq}!` : `#${s.seq}`))).toEqual([
      '#1',
      '#2',
      '#3',
      '#4!',
    ]);
  });

  it('lists only manifest names, ignoring temp files and strays', async () => {
    const { store } = await threeCheckpoints();
    mkdirSync(join(store.root, 'manifests', 'subdir'));
    writeFileSync(join(store.root, 'manifests', '.0000000004.json.123.abcdef01.tmp'), 'partial');
    writeFileSync(join(store.root, 'manifests', '4.json'), '{}');
    expect(await store.listSeqs()).toEqual([1, 2, 3]);
  });
});
