import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCheckpointer, Store, verifyStore } from '../../src/index.js';
// @ts-expect-error plain ESM fixture without types
import { stateAt } from '../fixtures/state-at.mjs';

const KILLS = Number(process.env.CKPT_TORTURE_KILLS ?? (process.env.CI ? 200 : 60));
const fixture = join(import.meta.dirname, '..', 'fixtures', 'save-loop.mjs');
const dir = mkdtempSync(join(tmpdir(), 'ckpt-torture-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deep equality, with the 3 MiB array compared as bytes (vitest's element-wise compare is slow). */
function expectStateAt(actual: unknown, step: number): void {
  const { big, ...rest } = actual as { big: Float64Array };
  const { big: wantBig, ...wantRest } = stateAt(step) as { big: Float64Array };
  expect(big).toBeInstanceOf(Float64Array);
  expect(
    Buffer.compare(
      new Uint8Array(big.buffer, big.byteOffset, big.byteLength),
      new Uint8Array(wantBig.buffer),
    ),
  ).toBe(0);
  expect(rest).toStrictEqual(wantRest);
}

/** Runs the fixture, SIGKILLs it `delayMs` after it is ready; returns the last step it reported committed. */
function runAndKill(store: string, delayMs: number): Promise<{ ready: number; lastCommitted: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, store], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ready = -1;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\d+)/.exec(out);
      if (m && ready < 0) {
        ready = Number(m[1]);
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`fixture exited ${code} ${signal}: ${err}`));
      const steps = [...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1]));
      resolve({ ready, lastCommitted: steps.at(-1) ?? ready });
    });
  });
}

describe('crash torture: SIGKILL at random moments while saving', () => {
  it(`restores exactly the last committed checkpoint after each of ${KILLS} kills`, async () => {
    const store = join(dir, 'store');
    let expectedAtLeast = 0;
    // The torture must have tortured something: commits between kills, and resumes from them.
    let advanced = 0;
    let resumedFromCheckpoint = 0;
    for (let i = 0; i < KILLS; i++) {
      const { ready, lastCommitted } = await runAndKill(store, Math.floor(Math.random() * 250));
      // The restart resumed from what the previous round verified.
      expect(ready).toBe(expectedAtLeast);
      // Taking over the dead child's lease is part of the test: it must succeed every time.
      const ck = await openCheckpointer({ dir: store });
      const restored = await ck.restore<{ step: number }>();
      await ck.close();
      const step = restored?.step ?? 0;
      // A commit may land after the last line the child managed to print, never more than one.
      expect(step === lastCommitted || step === lastCommitted + 1).toBe(true);
      if (restored) expectStateAt(restored, step);
      const report = await verifyStore(await Store.open(store), { deep: i % 20 === 0 });
      expect(report.checkpoints.filter((c) => !c.ok)).toEqual([]);
      if (step > expectedAtLeast) advanced++;
      if (ready > 0) resumedFromCheckpoint++;
      expectedAtLeast = step;
    }
    expect(advanced, 'rounds in which a checkpoint was committed before the kill').toBeGreaterThan(KILLS / 4);
    expect(resumedFromCheckpoint, 'restarts that resumed from a checkpoint').toBeGreaterThan(KILLS / 2);
  }, 600_000);
});
