/**
 * Restarts after crashes: a failing program is restarted --max-restarts times with a growing
 * backoff, then ckpt gives up naming the budget and exits the way the program did: with its
 * exit code, or by dying of the same signal.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../../src/store/index.js';
import type { JobStatus } from '../../src/supervisor/index.js';
import { ckptJson, cleanEnv, startCkpt, useCkptRuns } from '../helpers/cli.js';
import { CLI_BIN } from '../helpers/repo.js';

describe('ckpt run: restarts after crashes', () => {
  const { tempDir } = useCkptRuns('ckpt-restarts-');

  /** Runs `sh -c SCRIPT` under `ckpt run --max-restarts 2 --backoff 0.1s`. */
  async function runCrashing(script: string) {
    const work = tempDir();
    const store = join(tempDir(), 'store');
    const run = startCkpt(
      ['--store', store, 'run', '--max-restarts', '2', '--backoff', '0.1s', '--', 'sh', '-c', script],
      { cwd: work, env: cleanEnv({ TEST_NODE: process.execPath, TEST_CLI: CLI_BIN }) },
    );
    const end = await run.exited;
    const starts = readFileSync(join(work, 'starts.log'), 'utf8').split('\n').filter(Boolean);
    const status = ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work });
    const delays = (await readJournal(store)).events
      .filter((e) => e.type === 'restart')
      .map((e) => e.delayMs);
    return { end, starts, status, delays };
  }

  it('restarts a program that always exits 3 twice, then names the budget and exits 3', async () => {
    const { end, starts, status, delays } = await runCrashing('echo "$CKPT_RESTARTS" >> starts.log; exit 3');
    expect(end.code, end.stderr).toBe(3);
    expect(end.signal).toBeNull();
    expect(starts).toEqual(['0', '1', '2']);
    expect(end.stderr).toMatch(/restart budget is used up \(2 restarts, --max-restarts\)/);
    expect(status.state).toBe('failed');
    expect(status.restarts).toBe(2);
    expect(status.segments.map((s) => s.exit)).toEqual(Array(3).fill({ code: 3, signal: null }));
    // No checkpoint between the crashes: the backoff doubles.
    expect(delays).toEqual([100, 200]);
  });

  for (const signal of ['SIGSEGV', 'SIGKILL'] as const) {
    it(`dies of ${signal} itself when the program keeps dying of it`, async () => {
      const { end, starts, status } = await runCrashing(
        `echo "$CKPT_RESTARTS" >> starts.log; kill -${signal.slice(3)} $$`,
      );
      expect(end.signal, end.stderr).toBe(signal);
      expect(end.code).toBeNull();
      expect(starts).toEqual(['0', '1', '2']);
      expect(end.stderr).toContain(`killed by ${signal}`);
      expect(end.stderr).toContain('--max-restarts');
      expect(status.state).toBe('failed');
      expect(status.restarts).toBe(2);
      expect(status.segments).toHaveLength(3);
      for (const s of status.segments) expect(s.exit).toEqual({ code: null, signal });
    });
  }

  it('starts the backoff afresh after a crash that followed a new checkpoint', async () => {
    const { end, starts, status, delays } = await runCrashing(
      'echo "$CKPT_RESTARTS" >> starts.log; echo "$CKPT_RESTARTS" > s.txt; ' +
        '"$TEST_NODE" "$TEST_CLI" commit --step $((CKPT_RESTARTS + 1)) s.txt > /dev/null || exit 9; exit 3',
    );
    expect(end.code, end.stderr).toBe(3);
    expect(starts).toEqual(['0', '1', '2']);
    expect(status.segments.map((s) => s.resumeFrom?.step ?? 0)).toEqual([0, 1, 2]);
    expect(delays).toEqual([100, 100]);
  });
});
