import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NoSpaceError, openCheckpointer, Store, verifyStore } from '../../src/index.js';
import { describeNeeds, type Need } from '../helpers/needs.js';

const ROOT: Need = {
  name: 'root',
  present: process.getuid?.() === 0,
  install: 'run the tests as root (the full-disk test mounts a small tmpfs)',
};

function stateAt(step: number): { step: number; noise: Uint8Array } {
  const noise = new Uint8Array(2 << 20);
  let x = step * 2654435761 + 1;
  for (let i = 0; i < noise.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    noise[i] = x & 255;
    noise[i + 1] = (x >>> 8) & 255;
    noise[i + 2] = (x >>> 16) & 255;
    noise[i + 3] = (x >>> 24) & 255;
  }
  return { step, noise };
}

describeNeeds('full disk', ROOT, () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'ckpt-full-'));
  let mounted = false;
  beforeAll(() => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', mountPoint]);
    mounted = true;
  });
  afterAll(() => {
    if (mounted) execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('fails a save with a clear NoSpaceError and keeps every earlier checkpoint restorable', async () => {
    const dir = join(mountPoint, 'store');
    const ck = await openCheckpointer({ dir, keep: 1000, compression: 'off' });
    let lastGood = 0;
    let failure: unknown;
    for (let step = 1; step < 100 && failure === undefined; step++) {
      try {
        await ck.save(stateAt(step), { step });
        lastGood = step;
      } catch (error) {
        failure = error;
      }
    }
    expect(failure).toBeInstanceOf(NoSpaceError);
    const error = failure as NoSpaceError;
    expect(error.code).toBe('CKPT_NO_SPACE');
    expect(error.message).toContain(dir);
    expect(error.hint).toMatch(/ckpt prune/);
    expect(lastGood).toBeGreaterThan(1);
    await ck.close();

    // Everything committed before the failure verifies and restores, newest first.
    const report = await verifyStore(await Store.open(dir), { deep: true });
    expect(report.checkpoints.every((c) => c.ok)).toBe(true);
    expect(report.checkpoints.map((c) => c.step)).toEqual(Array.from({ length: lastGood }, (_, i) => i + 1));
    const reader = await openCheckpointer({ dir, keep: 1 });
    expect(await reader.restore()).toStrictEqual(stateAt(lastGood));

    // Freeing space (the hint's fix) makes saving work again.
    expect((await reader.prune()).removed.length).toBe(lastGood - 1);
    const result = await reader.save(stateAt(lastGood + 1), { step: lastGood + 1 });
    expect(result.step).toBe(lastGood + 1);
    await reader.close();
  });
});
