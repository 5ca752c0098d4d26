import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import {
  acquireLease,
  applyPrunePlan,
  type Manifest,
  materializeFiles,
  planPrune,
  type RetentionPolicy,
  readJournal,
  type ScannedCheckpoint,
  verifyStore,
} from '../../src/store/index.js';
import { seededBytes, writeFileDeep } from '../helpers/bytes.js';
import {
  chunkFiles,
  chunkSpot,
  commitPaths,
  openNewStore,
  sampleManifest,
  writeCraftedManifest,
} from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

type Kind = 'valid' | 'damaged' | 'newer';

/** Checkpoints as a scan returns them: ascending seqs with gaps, each valid, damaged or newer-format. */
const scannedArb = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 1, max: 3 }),
      kind: fc.constantFrom<Kind>('valid', 'valid', 'valid', 'damaged', 'newer'),
      step: fc.nat({ max: 60 }),
    }),
    { maxLength: 40 },
  )
  .map((items) => {
    let seq = 0;
    return items.map(({ gap, kind, step }): ScannedCheckpoint => {
      seq += gap;
      if (kind === 'valid') return { seq, manifest: sampleManifest({ seq, step }) };
      return { seq, problem: `problem of #${seq}`, newer: kind === 'newer' };
    });
  });

const policyArb: fc.Arbitrary<RetentionPolicy> = fc.oneof(
  fc.record({ keepLast: fc.integer({ min: 1, max: 10 }) }),
  fc.record({ keepEvery: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ keepLast: fc.integer({ min: 1, max: 10 }), keepEvery: fc.integer({ min: 1, max: 20 }) }),
);

const valid = (s: readonly ScannedCheckpoint[]): Array<{ seq: number; manifest: Manifest }> =>
  s.filter((c): c is { seq: number; manifest: Manifest } => 'manifest' in c);

describe('planPrune (properties)', () => {
  it('splits the checkpoints into keep and remove, both ascending', () => {
    fc.assert(
      fc.property(scannedArb, policyArb, (scanned, policy) => {
        const plan = planPrune(scanned, policy);
        const removed = plan.remove.map((r) => r.seq);
        expect([...plan.keep, ...removed].sort((a, b) => a - b)).toEqual(scanned.map((c) => c.seq));
        expect(plan.keep).toEqual([...plan.keep].sort((a, b) => a - b));
        expect(removed).toEqual([...removed].sort((a, b) => a - b));
      }),
    );
  });

  it('always keeps the newest valid checkpoint', () => {
    fc.assert(
      fc.property(scannedArb, policyArb, (scanned, policy) => {
        const newest = valid(scanned).at(-1);
        fc.pre(newest !== undefined);
        expect(planPrune(scanned, policy).keep).toContain(newest!.seq);
      }),
    );
  });

  it('keeps exactly the newest N valid ones, plus those whose step is a multiple of K', () => {
    fc.assert(
      fc.property(scannedArb, policyArb, (scanned, policy) => {
        const plan = planPrune(scanned, policy);
        const validSeqs = valid(scanned);
        const newestN = new Set(validSeqs.slice(-(policy.keepLast ?? 1)).map((c) => c.seq));
        const expected = validSeqs
          .filter(
            (c) =>
              newestN.has(c.seq) ||
              (policy.keepEvery !== undefined && c.manifest.step % policy.keepEvery === 0),
          )
          .map((c) => c.seq);
        const validSet = new Set(validSeqs.map((c) => c.seq));
        expect(plan.keep.filter((seq) => validSet.has(seq))).toEqual(expected);
      }),
    );
  });

  it('keeps damaged checkpoints newer than the newest valid one and removes older ones', () => {
    fc.assert(
      fc.property(scannedArb, policyArb, (scanned, policy) => {
        const newest = valid(scanned).at(-1);
        fc.pre(newest !== undefined);
        const plan = planPrune(scanned, policy);
        for (const c of scanned) {
          if (!('problem' in c) || c.newer) continue;
          if (c.seq > newest!.seq) expect(plan.keep).toContain(c.seq);
          else expect(plan.remove).toContainEqual({ seq: c.seq, why: `damaged: problem of #${c.seq}` });
        }
      }),
    );
  });

  it('never removes a checkpoint written by a newer format version', () => {
    fc.assert(
      fc.property(scannedArb, policyArb, (scanned, policy) => {
        const plan = planPrune(scanned, policy);
        for (const c of scanned) if ('problem' in c && c.newer) expect(plan.keep).toContain(c.seq);
      }),
    );
  });

  it('rejects a policy that keeps nothing or has bad numbers', () => {
    expect(() => planPrune([], {})).toThrow(UsageError);
    expect(() => planPrune([], { keepLast: 0 })).toThrow(/`--keep` to be a positive integer, got `0`/);
    expect(() => planPrune([], { keepEvery: 2.5 })).toThrow(/`--keep-every`/);
    expect(() => planPrune([], { keepLast: -1 })).toThrow(UsageError);
  });
});

describe('applyPrunePlan', () => {
  it('removes pruned checkpoints and exactly the chunks only they referenced', async () => {
    const base = tempDir();
    const work = join(base, 'work');
    const store = await openNewStore(join(base, 'store'));
    writeFileDeep(join(work, 'shared.bin'), seededBytes(100, 40_000));
    const manifests: Manifest[] = [];
    for (let i = 1; i <= 4; i++) {
      writeFileDeep(join(work, 'own.bin'), seededBytes(i, 30_000 + i));
      manifests.push(await commitPaths(store, work, ['shared.bin', 'own.bin'], i));
    }
    const chunkOf = (m: Manifest, path: string): string => {
      const e = m.entries.find((x) => x.type === 'file' && x.path === path);
      if (e?.type !== 'file') throw new Error(path);
      return chunkSpot(store.root, e.chunks[0]!).path;
    };

    const scanned = await store.scan();
    const plan = planPrune(scanned, { keepLast: 2 });
    expect(plan.keep).toEqual([3, 4]);
    const lease = await acquireLease(store.root);
    const result = await applyPrunePlan(store, lease, scanned, plan);
    await lease.release();

    // #2's pack held only its own.bin: freed. #1's pack also holds shared.bin, which #3 and #4
    // still name, so it stays whole.
    expect(result).toEqual({ removed: [1, 2], freedChunks: 1 });
    expect(await store.listSeqs()).toEqual([3, 4]);
    expect(chunkOf(manifests[0]!, 'own.bin')).toBe(chunkOf(manifests[0]!, 'shared.bin'));
    expect(existsSync(chunkOf(manifests[1]!, 'own.bin'))).toBe(false);
    expect(existsSync(chunkOf(manifests[2]!, 'own.bin'))).toBe(true);
    expect(existsSync(chunkOf(manifests[0]!, 'shared.bin'))).toBe(true);
    expect((await readJournal(store.root)).events.filter((e) => e.type === 'prune')).toMatchObject([
      { removed: [1, 2], freedChunks: 1 },
    ]);

    const report = await verifyStore(store, { deep: true });
    expect(report.damaged).toBe(false);
    expect(report.leftovers).toEqual({ tmpFiles: 0, orphanChunks: 0, bytes: 0 });
    for (const seq of [3, 4]) {
      const out = join(base, `out${seq}`);
      await materializeFiles(store.root, await store.readManifest(seq), out);
      expect(readFileSync(join(out, 'own.bin')).equals(seededBytes(seq, 30_000 + seq))).toBe(true);
    }
  });

  it('frees no chunk while a newer-format checkpoint (whose chunks are unknown) is in the store', async () => {
    const base = tempDir();
    const store = await openNewStore(join(base, 'store'));
    for (let i = 1; i <= 3; i++) {
      writeFileDeep(join(base, 'work/f.bin'), seededBytes(i, 10_000));
      await commitPaths(store, join(base, 'work'), ['f.bin'], i);
    }
    await writeCraftedManifest(store, [], { version: 4 });
    const chunks = chunkFiles(store.root);
    const scanned = await store.scan();
    const plan = planPrune(scanned, { keepLast: 1 });
    expect(plan.keep).toEqual([3, 4]);
    const lease = await acquireLease(store.root);
    expect(await applyPrunePlan(store, lease, scanned, plan)).toEqual({ removed: [1, 2], freedChunks: 0 });
    await lease.release();
    expect(chunkFiles(store.root)).toEqual(chunks);
  });

  it('refuses to act with a lease that was taken over', async () => {
    const base = tempDir();
    writeFileDeep(join(base, 'work/f'), 'x');
    const store = await openNewStore(join(base, 'store'));
    await commitPaths(store, join(base, 'work'), ['f'], 1);
    await commitPaths(store, join(base, 'work'), ['f'], 2);
    const lease = await acquireLease(store.root);
    await lease.release();
    const other = await acquireLease(store.root);
    const scanned = await store.scan();
    await expect(applyPrunePlan(store, lease, scanned, planPrune(scanned, { keepLast: 1 }))).rejects.toThrow(
      /refusing/,
    );
    expect(await store.listSeqs()).toEqual([1, 2]);
    await other.release();
  });
});
