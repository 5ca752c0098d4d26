import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClosedError, LockedError, openCheckpointer, Store, UsageError } from '../../src/index.js';
import { corruptChunk } from '../helpers/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-ck-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const state = (step: number) => ({ step, field: new Float64Array(300_000).fill(step), label: `s${step}` });

describe('openCheckpointer', () => {
  it('starts fresh on an empty store and restores the newest save', async () => {
    const ck = await openCheckpointer({ dir });
    expect(await ck.restore()).toBeUndefined();
    await ck.save(state(1), { step: 1 });
    await ck.save(state(2), { step: 2, meta: { loss: 0.5 } });
    await ck.close();
    const again = await openCheckpointer({ dir });
    expect(await again.restore()).toStrictEqual(state(2));
    expect(again.lastRestore).toMatchObject({ seq: 2, step: 2, meta: { loss: 0.5 }, skipped: [] });
    await again.close();
  });

  it('keeps only the newest `keep` checkpoints', async () => {
    const ck = await openCheckpointer({ dir, keep: 2 });
    for (let step = 1; step <= 5; step++) await ck.save(state(step), { step });
    await ck.close();
    const store = await Store.open(dir);
    expect(await store.listSeqs()).toEqual([4, 5]);
  });

  it('writes only the changed chunks of a large array on the next save', async () => {
    const ck = await openCheckpointer({ dir, compression: 'off' });
    const s = { field: new Float64Array(4 << 17).map((_, i) => i) }; // 4 MiB: four distinct chunks
    const first = await ck.save(s, { step: 1 });
    s.field[5] = 42; // first chunk only
    const second = await ck.save(s, { step: 2 });
    await ck.close();
    expect(first.stats.writtenBytes).toBeGreaterThanOrEqual(4 << 20);
    expect(second.stats.newChunks).toBe(1); // the changed chunk; the value document is unchanged
    expect(second.stats.writtenBytes).toBeLessThan((1 << 20) + 4096);
  });

  it('refuses a second writer on the same store while the first is open', async () => {
    const ck = await openCheckpointer({ dir });
    await expect(openCheckpointer({ dir })).rejects.toThrow(LockedError);
    await expect(openCheckpointer({ dir })).rejects.toThrow(new RegExp(`pid ${process.pid}`));
    await ck.close();
    const next = await openCheckpointer({ dir });
    await next.close();
  });

  it("takes over a stale copy of its own requeued SLURM job, as ckpt run does (SLURM's probe)", async () => {
    const ck = await openCheckpointer({ dir });
    const stale = ck.store.root;
    await ck.close();
    // A live holder (this process) recorded as the first run of job 88123; we are its requeue.
    const record = {
      host: hostname(),
      pid: process.pid,
      token: 'beef'.repeat(6),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(join(stale, 'lease.json'), `${JSON.stringify({ ...record, slurm: { jobId: '88123' } })}\n`);
    // A probe that cannot tell leaves the live pid alive.
    await expect(openCheckpointer({ dir, holderProbe: async () => undefined })).rejects.toThrow(LockedError);
    const saved = { ...process.env };
    Object.assign(process.env, { SLURM_JOB_ID: '88123', SLURM_RESTART_COUNT: '1' });
    try {
      const requeued = await openCheckpointer({ dir });
      await requeued.close();
    } finally {
      delete process.env.SLURM_JOB_ID;
      delete process.env.SLURM_RESTART_COUNT;
      Object.assign(process.env, saved);
    }
  });

  it('falls back past a damaged newest checkpoint and says why', async () => {
    const ck = await openCheckpointer({ dir, compression: 'off' });
    await ck.save(state(1), { step: 1 });
    await ck.save(state(2), { step: 2 });
    await ck.close();
    const store = await Store.open(dir);
    const newest = await store.readManifest(2);
    const blob = newest.entries.find((e) => e.type === 'blob' && e.key !== 'value');
    if (blob?.type !== 'blob') throw new Error('expected a blob entry');
    corruptChunk(store.root, blob.chunks[0]!, 100);
    const again = await openCheckpointer({ dir });
    expect(await again.restore()).toStrictEqual(state(1));
    expect(again.lastRestore?.skipped).toHaveLength(1);
    expect(again.lastRestore?.skipped[0]?.seq).toBe(2);
    expect(again.lastRestore?.skipped[0]?.reason).toMatch(/corrupt/);
    await again.close();
  });

  it('saveAsync returns before the commit and the commit lands', async () => {
    const ck = await openCheckpointer({ dir });
    const s = state(7);
    const pending = await ck.saveAsync(s, { step: 7 });
    s.field.fill(-1); // changing the state after saveAsync returned must not change the checkpoint
    const result = await pending.committed;
    expect(result.step).toBe(7);
    await ck.close();
    const reader = await openCheckpointer({ dir });
    expect(await reader.restore()).toStrictEqual(state(7));
    await reader.close();
  });

  it('runs one save at a time: a second saveAsync waits for the first', async () => {
    const ck = await openCheckpointer({ dir, keep: 10 });
    const a = await ck.saveAsync(state(1), { step: 1 });
    const b = await ck.saveAsync(state(2), { step: 2 });
    const [ra, rb] = await Promise.all([a.committed, b.committed]);
    expect([ra.seq, rb.seq]).toEqual([1, 2]);
    await ck.close();
  });

  it('due(): every N steps, every T seconds, and on the checkpoint signal', async () => {
    const bySteps = await openCheckpointer({ dir, every: { steps: 10 } });
    expect([5, 10, 19, 20].map((s) => bySteps.due(s))).toEqual([false, true, true, true]);
    await bySteps.save({}, { step: 10 });
    expect([15, 19, 20].map((s) => bySteps.due(s))).toEqual([false, false, true]);
    await bySteps.close();

    const byTime = await openCheckpointer({ dir, every: { seconds: 0.2 } });
    expect(byTime.due(1)).toBe(false);
    await new Promise((r) => setTimeout(r, 250));
    expect(byTime.due(1)).toBe(true);
    await byTime.close();

    const bySignal = await openCheckpointer({ dir, signal: 'SIGUSR2' });
    expect(bySignal.due(1)).toBe(false);
    process.kill(process.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 50));
    expect(bySignal.due(1)).toBe(true);
    await bySignal.save({}, { step: 1 });
    expect(bySignal.due(2)).toBe(false);
    await bySignal.close();
  });

  it('rejects bad options with the name and the value', async () => {
    await expect(openCheckpointer({ dir, keep: 0 })).rejects.toThrow(UsageError);
    await expect(openCheckpointer({ dir, keep: -1 })).rejects.toThrow(
      'Expected `keep` to be a positive integer, got `-1`.',
    );
    await expect(openCheckpointer({ dir, every: { seconds: Number.NaN } })).rejects.toThrow(/every.seconds/);
  });

  it('refuses use after close', async () => {
    const ck = await openCheckpointer({ dir });
    await ck.close();
    await expect(ck.save({}, { step: 1 })).rejects.toThrow(ClosedError);
  });
});
