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

/**
 * When a round's kill lands, in the child's own progress (a loaded CPU stretches wall time, so a
 * fixed delay after start-up could land before every commit): after its `commits`-th commit line
 * (0: its "ready" line), plus `fraction` of the time its saves take (the last interval between
 * its lines, or `intervalMs` before it printed two), so kills fall anywhere inside a save.
 */
interface KillPoint {
  commits: number;
  fraction: number;
  intervalMs: number;
}

/** Runs the fixture and SIGKILLs it at `at`; returns its start step, last reported commit and save interval. */
function runAndKill(
  store: string,
  at: KillPoint,
): Promise<{ ready: number; lastCommitted: number; intervalMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture, store], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ready = -1;
    let lines = 0;
    let lastLineAt = 0;
    let intervalMs = at.intervalMs;
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const now = Date.now();
      const count = (out.match(/^(ready|committed) \d+$/gm) ?? []).length;
      if (count > lines) {
        if (lines > 0) intervalMs = (now - lastLineAt) / (count - lines);
        lines = count;
        lastLineAt = now;
      }
      const m = /ready (\d+)/.exec(out);
      if (m && ready < 0) ready = Number(m[1]);
      if (!armed && ready >= 0 && lines >= 1 + at.commits) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), Math.floor(at.fraction * intervalMs));
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`fixture exited ${code} ${signal}: ${err}`));
      const steps = [...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1]));
      resolve({ ready, lastCommitted: steps.at(-1) ?? ready, intervalMs });
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
    let intervalMs = 100;
    for (let i = 0; i < KILLS; i++) {
      const at = { commits: Math.floor(Math.random() * 3), fraction: Math.random(), intervalMs };
      const round = await runAndKill(store, at);
      const { ready, lastCommitted } = round;
      intervalMs = round.intervalMs;
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
