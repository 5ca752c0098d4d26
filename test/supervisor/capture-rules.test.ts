/**
 * The capture rules of docs/protocol.md, each provoked by a small program: one capture at a time,
 * a stop that waits for the capture in flight, the restart loop, the warnings, and the step a
 * captured checkpoint shows.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/store/index.js';
import { ckptJson, cleanEnv, killLeftoverCkpts, runCkpt, startCkpt } from '../helpers/cli.js';
import { readEvents } from '../helpers/events.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait-for.js';

const RULES = join(REPO_ROOT, 'test', 'fixtures', 'supervisor', 'rules.mjs');
const tempDir = useTempDirs('ckpt-rules-');

interface Lab {
  work: string;
  store: string;
  log: string;
}

function lab(): Lab {
  const work = tempDir();
  return { work, store: join(tempDir(), 'store'), log: join(work, 'rules.log') };
}

function run(l: Lab, mode: string, flags: string[]) {
  return startCkpt(['--store', l.store, 'run', ...flags, '--', process.execPath, RULES], {
    cwd: l.work,
    env: cleanEnv({ RULES_MODE: mode, RULES_LOG: l.log }),
  });
}

interface LsJson {
  checkpoints: Array<{ seq: number; step: number; stepKind: string; ok: boolean }>;
}

/** The poison fixture's state file, captured once settled. */
const CAPTURE_STATE = ['--capture', 'state.json', '--settle', '0.5s'];

describe('ckpt run capture rules', () => {
  beforeAll(requireBuild);
  afterEach(killLeftoverCkpts);

  it('a 256 MiB capture slower than the poll yields exactly one checkpoint per change, never two at once', async () => {
    const l = lab();
    const end = await run(l, 'big3', ['--capture', 'big.bin', '--compress', 'off']).exited;
    expect(end.code, end.stderr).toBe(0);
    const commits = (await readJournal(l.store)).events.filter((e) => e.type === 'commit');
    expect(commits.map((c) => c.step)).toEqual([1, 2, 3]);
    // Each commit's work (its duration, ending at its journal time) starts after the one before ended.
    for (let i = 1; i < commits.length; i++) {
      const start = Date.parse(commits[i]!.time) - Number(commits[i]!.durationMs);
      expect(start).toBeGreaterThanOrEqual(Date.parse(commits[i - 1]!.time));
    }
    expect(Math.max(...commits.map((c) => Number(c.durationMs)))).toBeGreaterThan(250); // slower than a poll
    const exit = (await readJournal(l.store)).events.find((e) => e.type === 'exit')!;
    for (const c of commits) expect(c.time <= exit.time).toBe(true);
  }, 120_000);

  it('an atomic writer saving every second is captured save by save with the default --settle', async () => {
    const l = lab();
    const end = await run(l, 'atomic1s', ['--capture', 'state.json']).exited;
    expect(end.code, end.stderr).toBe(0);
    const saves = readEvents<{ t: number; v: number }>(l.log);
    const commits = (await readJournal(l.store)).events.filter((e) => e.type === 'commit');
    // The first save appears from nothing (a rename and a plain write look alike then) and waits
    // for --settle; every later one replaces its predecessor and is taken at the next look: the
    // store is never more than one save behind the program.
    const times = commits.map((c) => Date.parse(c.time));
    for (let i = 1; i < saves.length; i++) {
      const until = (saves[i + 1]?.t ?? Number.POSITIVE_INFINITY) + 500;
      expect(
        times.some((t) => t >= saves[i]!.t && t < until),
        `save ${i + 1}`,
      ).toBe(true);
    }
  }, 60_000);

  it('SIGTERM while a 256 MiB capture is in flight: it completes, ckpt exits 75 after it, the lease is released, the rerun resumes from it', async () => {
    const l = lab();
    const child = run(l, 'big-hold', ['--capture', 'big.bin', '--compress', 'off']);
    await waitFor(() => readEvents(l.log).some((e) => e.event === 'renamed'), 'the file renamed into place', {
      timeoutMs: 30_000,
      everyMs: 5,
    });
    // The capture has begun once its first pack is being written.
    await waitFor(
      () => existsSync(join(l.store, 'packs')) && readdirSync(join(l.store, 'packs')).length > 0,
      'the capture to begin',
      { timeoutMs: 10_000, everyMs: 2 },
    );
    child.child.kill('SIGTERM');
    const end = await child.exited;
    expect(end.code, end.stderr).toBe(75);
    expect(end.stderr).not.toMatch(/capture failed/);
    expect(existsSync(join(l.store, 'lease.json'))).toBe(false);
    const events = (await readJournal(l.store)).events;
    const commit = events.findIndex((e) => e.type === 'commit');
    expect(commit).toBeGreaterThanOrEqual(0);
    expect(commit).toBeLessThan(events.findIndex((e) => e.type === 'run-end'));
    const again = await run(l, 'report', ['--capture', 'big.bin']).exited;
    expect(again.code, again.stderr).toBe(0);
    expect(readEvents(l.log).at(-1)).toMatchObject({ event: 'report', first: 7, size: 256 << 20, step: '1' });
  }, 120_000);

  it('a newest checkpoint the program fails on at start is given up: ckpt resumes from the one before and says why', async () => {
    const l = lab();
    const end = await run(l, 'poison', [...CAPTURE_STATE, '--max-restarts', '5', '--backoff', '0.1s']).exited;
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toMatch(
      /checkpoint #2 marked failing: the program exited 1 2 times in a row right after starting from it/,
    );
    const starts = readEvents<{ event: string; state: { v: number } | null }>(l.log).filter(
      (e) => e.event === 'start',
    );
    expect(starts.map((s) => s.state?.v ?? null)).toEqual([null, 2, 2, 1]);
    const events = (await readJournal(l.store)).events;
    expect(events.filter((e) => e.type === 'checkpoint-failing')).toMatchObject([{ seq: 2 }]);
    const why = runCkpt(['--store', l.store, 'why'], { cwd: l.work });
    expect(why.stdout).toMatch(/marked #2 failing/);
    const status = runCkpt(['--store', l.store, 'status'], { cwd: l.work });
    expect(status.stdout).toMatch(/Checkpoint #2 was given up at .*: the program exited 1 2 times in a row/);
  }, 120_000);

  it('a store whose every checkpoint fails at start ends with a message naming them, not a loop', async () => {
    const l = lab();
    // Only the poisoned state was ever captured: after it fails, nothing is left to try.
    const first = await run(l, 'poison', [...CAPTURE_STATE, '--max-restarts', '0']).exited;
    expect(first.code).toBe(1);
    runCkpt(['--store', l.store, 'prune', '--keep', '1'], { cwd: l.work });
    const end = await run(l, 'poison', [...CAPTURE_STATE, '--max-restarts', '10', '--backoff', '0.1s'])
      .exited;
    expect(end.code).toBe(1);
    expect(end.stderr).toMatch(/every checkpoint makes the program fail right after starting \(#2\)/);
  }, 120_000);

  it('warns once: a glob that matches nothing, --every with no handler, a file that never settles', async () => {
    const l = lab();
    const idle = await run(l, 'idle', ['--every', '1s', '--capture', 'nothing/*.chk']).exited;
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stderr.match(/has matched no file/g)).toHaveLength(1);
    expect(idle.stderr.match(/no process of the program handles it/g)).toHaveLength(1);
    const churn = await run(l, 'churn', ['--capture', 'churn.dat', '--settle', '0.5s']).exited;
    expect(churn.code, churn.stderr).toBe(0);
    expect(churn.stderr.match(/is rewritten in place more often than --settle 0.5s/g)).toHaveLength(1);
    const codes = (await readJournal(l.store)).events.filter((e) => e.type === 'warning').map((e) => e.code);
    expect(codes.sort()).toEqual(['CAPTURE_MATCHES_NOTHING', 'NEVER_SETTLES', 'NO_HANDLER']);
    // Rewritten in place, but settled between writes: captured each time, and no warning.
    const m = lab();
    const slow = await run(m, 'inplace-slow', ['--capture', 'churn.dat', '--settle', '0.5s']).exited;
    expect(slow.code, slow.stderr).toBe(0);
    expect(slow.stderr).not.toMatch(/never captured/);
    // Captured while it ran, not only at its end (how often depends on the machine's load).
    expect(
      slow.stderr.match(/captured 1 file\(s\) as checkpoint/g)!.length,
      slow.stderr,
    ).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('the step of a captured checkpoint: the program’s with --step-from, else a labelled capture counter', async () => {
    const l = lab();
    expect((await run(l, 'stepfile', ['--capture', 'out/*.pkl']).exited).code).toBe(0);
    const counter = ckptJson<LsJson>(['--store', l.store, 'ls'], { cwd: l.work }).checkpoints.at(-1)!;
    expect(counter).toMatchObject({ step: 1, stepKind: 'capture-counter' });
    expect(runCkpt(['--store', l.store, 'ls'], { cwd: l.work }).stdout).toMatch(/#1 +capture 1 /);
    const m = lab();
    expect(
      (await run(m, 'stepfile', ['--capture', 'out/*.pkl', '--step-from', 'chk_(\\d+)']).exited).code,
    ).toBe(0);
    expect(ckptJson<LsJson>(['--store', m.store, 'ls'], { cwd: m.work }).checkpoints.at(-1)).toMatchObject({
      step: 400,
      stepKind: 'program',
    });
  }, 60_000);

  it('status: work lost runs from the resumed checkpoint to the interruption, also when ckpt itself was SIGKILLed; a command that cannot start says so', async () => {
    const l = lab();
    const child = run(l, 'hold', ['--capture', 'state.json']);
    await waitFor(
      async () =>
        (await readJournal(l.store).catch(() => ({ events: [] }))).events.some((e) => e.type === 'commit'),
      'the capture',
      { timeoutMs: 30_000, everyMs: 20 },
    );
    const commitAt = Date.parse((await readJournal(l.store)).events.find((e) => e.type === 'commit')!.time);
    await new Promise((r) => setTimeout(r, 2000));
    const killedAt = Date.now();
    child.child.kill('SIGKILL');
    await child.exited;
    expect((await run(l, 'report', ['--capture', 'state.json']).exited).code).toBe(0);
    const status = ckptJson<{ segments: Array<{ lostMs: number; resumeFrom: unknown }> }>(
      ['--store', l.store, 'status'],
      { cwd: l.work },
    );
    expect(status.segments).toHaveLength(2);
    // The lease is touched about every second while the program runs: lost is known to that second.
    const lost = status.segments[0]!.lostMs;
    expect(lost).toBeGreaterThanOrEqual(killedAt - commitAt - 2500);
    expect(lost).toBeLessThanOrEqual(killedAt - commitAt + 500);
    expect(status.segments[1]!.resumeFrom).toMatchObject({ seq: 1 });

    const m = lab();
    const none = await startCkpt(['--store', m.store, 'run', '--', '/nonexistent/program'], { cwd: m.work })
      .exited;
    expect(none.code).toBe(127);
    const text = runCkpt(['--store', m.store, 'status'], { cwd: m.work }).stdout;
    expect(text).toMatch(/could not start: .*ENOENT/);
    expect(text).not.toMatch(/exit null/);
  }, 90_000);
});
