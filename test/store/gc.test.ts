import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FencedError } from '../../src/errors.js';
import {
  acquireLease,
  applyGcPlan,
  type Manifest,
  materializeFiles,
  planGc,
  readJournal,
  type Store,
  verifyStore,
} from '../../src/store/index.js';
import { seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { deadPid } from '../helpers/proc.js';
import { chunkFiles, chunkSpot, commitPaths, openNewStore, writeCraftedManifest } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

/** Two checkpoints of (own.bin, shared.bin); own.bin differs between them. */
async function twoCheckpoints(): Promise<{ base: string; store: Store; manifests: Manifest[] }> {
  const base = tempDir();
  const store = await openNewStore(join(base, 'store'));
  writeFileDeep(join(base, 'work/shared.bin'), seededBytes(50, 20_000));
  const manifests: Manifest[] = [];
  for (let i = 1; i <= 2; i++) {
    writeFileDeep(join(base, 'work/own.bin'), seededBytes(i, 30_000));
    manifests.push(await commitPaths(store, join(base, 'work'), ['own.bin', 'shared.bin'], i));
  }
  return { base, store, manifests };
}

/** The file (pack) holding the first chunk of `path` in a checkpoint. */
function chunkOf(store: Store, m: Manifest, path: string): string {
  const e = m.entries.find((x) => x.type === 'file' && x.path === path);
  if (e?.type !== 'file') throw new Error(path);
  return chunkSpot(store.root, e.chunks[0]!).path;
}

function touch(path: string, content = 'leftover', ageMs = 0): string {
  writeFileSync(path, content);
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    utimesSync(path, then, then);
  }
  return path;
}

describe('planGc / applyGcPlan', () => {
  it('keeps a pack while any checkpoint names a chunk in it', async () => {
    const { store, manifests } = await twoCheckpoints();
    await store.removeManifest(1);
    // #2 reuses shared.bin from #1's pack, so that pack stays whole.
    expect(chunkOf(store, manifests[1]!, 'shared.bin')).toBe(chunkOf(store, manifests[0]!, 'own.bin'));
    const plan = await planGc(store);
    expect(plan.chunks).toEqual([]);
    expect(plan.referenced).toBe(2);
  });

  it('collects unreferenced packs and temp files of dead writers, and keeps the rest', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    const manifests: Manifest[] = [];
    writeFileDeep(join(base, 'work/own.bin'), seededBytes(1, 30_000));
    manifests.push(await commitPaths(store, join(base, 'work'), ['own.bin'], 1));
    writeFileDeep(join(base, 'work/own.bin'), seededBytes(2, 30_000));
    writeFileDeep(join(base, 'work/shared.bin'), seededBytes(50, 20_000));
    manifests.push(await commitPaths(store, join(base, 'work'), ['own.bin', 'shared.bin'], 2));
    await store.removeManifest(1);
    const orphan = chunkOf(store, manifests[0]!, 'own.bin');
    const kept = [chunkOf(store, manifests[1]!, 'own.bin'), chunkOf(store, manifests[1]!, 'shared.bin')];
    const dead = deadPid();
    const shard = dirname(kept[0]!);
    const collectable = [
      touch(join(shard, `.${basename(kept[0]!)}.${dead}.deadbeef.tmp`)),
      touch(join(store.root, 'manifests', `.0000000003.json.${dead}.0badf00d.tmp`)),
      touch(join(store.root, `.lease.json.${dead}.12345678.tmp`)),
      touch(join(store.root, `.lease.stale.${dead}.abcdef12`)),
      touch(join(store.root, `.journal.log.${process.pid}.22222222.tmp`), 'old', 2 * 3600_000),
    ];
    const live = touch(join(store.root, `.ckpt-store.json.${process.pid}.11111111.tmp`));

    const plan = await planGc(store);
    expect(plan.chunks).toEqual([{ path: orphan, size: 30_000 }]);
    expect(plan.tmpFiles.map((t) => t.path).sort()).toEqual([...collectable].sort());
    expect(plan.referenced).toBe(2);
    expect(plan.bytes).toBe(30_000 + 4 * 'leftover'.length + 3);

    const lease = await acquireLease(store.root);
    await applyGcPlan(store, lease, plan);
    await lease.release();

    for (const path of [orphan, ...collectable]) expect(existsSync(path), path).toBe(false);
    for (const path of [...kept, live]) expect(existsSync(path), path).toBe(true);
    expect((await readJournal(store.root)).events.filter((e) => e.type === 'gc')).toMatchObject([
      { chunks: 1, tmpFiles: 5, bytes: plan.bytes },
    ]);

    const report = await verifyStore(store, { deep: true });
    expect(report.damaged).toBe(false);
    expect(report.checkpoints).toEqual([{ seq: 2, step: 2, ok: true }]);
    expect(report.leftovers).toEqual({ tmpFiles: 0, orphanChunks: 0, bytes: 0 });
    const out = join(base, 'out');
    await materializeFiles(store.root, manifests[1]!, out);
    expect(readFileSync(join(out, 'own.bin')).equals(seededBytes(2, 30_000))).toBe(true);

    // A second gc finds nothing and journals nothing.
    const again = await planGc(store);
    expect([again.chunks.length, again.tmpFiles.length, again.bytes]).toEqual([0, 0, 0]);
  });

  it('collects every chunk of a store whose manifests are all gone', async () => {
    const { store } = await twoCheckpoints();
    await store.removeManifest(1);
    await store.removeManifest(2);
    const plan = await planGc(store);
    expect(plan.chunks.map((c) => c.path).sort()).toEqual(chunkFiles(store.root));
    expect(plan.referenced).toBe(0);
  });

  it('collects no chunk while a checkpoint of a newer format version is present, and says why', async () => {
    const { store } = await twoCheckpoints();
    await store.removeManifest(1);
    const seq = await writeCraftedManifest(store, [], { version: 4 });
    const plan = await planGc(store);
    expect(plan.chunks).toEqual([]);
    expect(plan.blockedBy).toContain(`#${seq} was written by a newer ckpt`);
  });

  it('deletes nothing with a lease that was taken over', async () => {
    const { store } = await twoCheckpoints();
    await store.removeManifest(1);
    await store.removeManifest(2);
    const plan = await planGc(store);
    const stale = await acquireLease(store.root);
    await stale.release();
    const other = await acquireLease(store.root);
    await expect(applyGcPlan(store, stale, plan)).rejects.toThrow(FencedError);
    expect(existsSync(plan.chunks[0]!.path)).toBe(true);
    await other.release();
  });
});
