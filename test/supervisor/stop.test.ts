/**
 * Stopping `ckpt run` with SIGTERM: the program is asked for a checkpoint with its checkpoint
 * signal, ckpt waits for the commit (up to --grace), stops the program and exits 75; the same
 * command resumes from exactly that checkpoint. A program that ignores both the checkpoint signal
 * and SIGTERM is SIGKILLed after --grace + --kill-grace and the store is left as it was.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../../src/supervisor/index.js';
import { ckptJson, cleanEnv, runCkpt, startCkpt, useCkptRuns } from '../helpers/cli.js';
import { readEvents } from '../helpers/events.js';
import { isAlive } from '../helpers/procfs.js';
import { CLI_BIN, REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'supervisor');
const GRACE_MS = 3000;
const KILL_GRACE_MS = 1000;
const EXIT_RESUMABLE = 75;

interface LsJson {
  checkpoints: Array<{ seq: number; step: number; ok: boolean }>;
}
interface WhyJson {
  resumeFrom: { seq: number; step: number } | null;
}

/** `ckpt run` of a fixture with this file's --grace and --kill-grace. */
function stopArgs(store: string, fixture: string): string[] {
  const grace = ['--grace', `${GRACE_MS / 1000}s`, '--kill-grace', `${KILL_GRACE_MS / 1000}s`];
  return ['--store', store, 'run', ...grace, '--', process.execPath, join(FIXTURES, fixture)];
}

describe('ckpt run: SIGTERM to ckpt', () => {
  const { workspace } = useCkptRuns('ckpt-stop-');

  it('checkpoints within the grace period, exits 75, and the same command resumes at that step', async () => {
    const { work, store } = workspace();
    const events = join(work, 'events.log');
    const args = stopArgs(store, 'counter.mjs');
    const env = cleanEnv({ COUNTER_LOG: events, COUNTER_CLI: CLI_BIN, COUNTER_TOTAL: '300' });

    const first = startCkpt(args, { cwd: work, env });
    await waitFor(() => readEvents(events).some((e) => e.event === 'started'), 'the program to start');
    await sleep(500);
    const stopAt = Date.now();
    first.child.kill('SIGTERM');
    const end = await first.exited;
    expect(end.code, end.stderr).toBe(EXIT_RESUMABLE);
    expect(end.stderr).toMatch(/stopped.*SIGTERM.*run the same command again/);
    // It stopped as soon as the checkpoint was there, not at the end of the grace period.
    expect(end.at - stopAt).toBeLessThan(GRACE_MS);

    const checkpointed = readEvents(events).filter((e) => e.event === 'checkpointing');
    expect(checkpointed).toHaveLength(1);
    const step = checkpointed[0]!.step as number;
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(300);
    expect(readEvents(events).some((e) => e.event === 'finished')).toBe(false);

    const ls = ckptJson<LsJson>(['--store', store, 'ls'], { cwd: work });
    expect(ls.checkpoints.map((c) => c.step)).toEqual([step]);
    expect(ckptJson<WhyJson>(['--store', store, 'why'], { cwd: work }).resumeFrom).toMatchObject({ step });
    const status = ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work });
    expect(status.state).toBe('interrupted');
    expect(status.segments).toHaveLength(1);
    expect(status.segments[0]!.exit).toEqual({ code: null, signal: 'SIGTERM' });

    const second = startCkpt(args, { cwd: work, env });
    const again = await second.exited;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^resumed at ${step}$`, 'm'));
    expect(again.stdout).toMatch(/^finished at 300$/m);
    const started = readEvents(events).filter((e) => e.event === 'started');
    expect(started.map((e) => [e.step, e.ckptStep])).toEqual([
      [0, null],
      [step, String(step)],
    ]);
    expect(
      ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work }).segments[1]!.resumeFrom,
    ).toMatchObject({ step });
  });

  it('SIGKILLs a program that ignores the checkpoint signal and SIGTERM after --grace + --kill-grace', async () => {
    const { work, store } = workspace();
    const events = join(work, 'events.log');
    const run = startCkpt(stopArgs(store, 'stubborn.mjs'), {
      cwd: work,
      env: cleanEnv({ STUBBORN_LOG: events, STUBBORN_CLI: CLI_BIN }),
    });
    const ready = await waitFor(() => readEvents(events).find((e) => e.event === 'ready'), 'the program');
    const before = runCkpt(['--store', store, 'ls', '--json'], { cwd: work });
    expect(before.code, before.stderr).toBe(0);
    expect((JSON.parse(before.stdout) as LsJson).checkpoints).toMatchObject([{ seq: 1, step: 1, ok: true }]);

    const stopAt = Date.now();
    run.child.kill('SIGTERM');
    const end = await run.exited;
    const took = end.at - stopAt;
    expect(end.code, end.stderr).toBe(EXIT_RESUMABLE);
    expect(took).toBeGreaterThanOrEqual(GRACE_MS + KILL_GRACE_MS - 100);
    expect(took).toBeLessThan(GRACE_MS + KILL_GRACE_MS + 2500);
    expect(isAlive(ready.pid as number)).toBe(false);

    const ignored = readEvents(events)
      .filter((e) => e.event === 'ignored')
      .map((e) => e.signal);
    expect(ignored).toEqual(['SIGUSR2', 'SIGTERM']);
    const status = ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work });
    expect(status.state).toBe('interrupted');
    expect(status.segments.at(-1)!.exit).toEqual({ code: null, signal: 'SIGKILL' });

    const verify = runCkpt(['--store', store, 'verify'], { cwd: work });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const after = runCkpt(['--store', store, 'ls', '--json'], { cwd: work });
    expect(after.stdout).toBe(before.stdout);
  });
});
