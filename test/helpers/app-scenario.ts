/**
 * The moments the app tests (test/apps/*) share: finding the app under `ckpt run`, and the
 * interruptions (SIGTERM to ckpt, SIGKILL to the app, a node crash) with the checks that they
 * landed. The whole GROMACS/LAMMPS scenarios built on them are in app-runs.ts.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { CkptChild, CkptExit } from './cli.js';
import { isAlive } from './procfs.js';
import { sleep, waitFor } from './wait-for.js';

/** The live children of `parent` for which `matches(pid)` holds (the first one), if any. */
function liveChild(parent: number, matches: (pid: string) => boolean): number | undefined {
  let children: string[] = [];
  try {
    children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/);
  } catch {
    return undefined;
  }
  for (const pid of children.filter((p) => p !== '')) {
    try {
      if (isAlive(Number(pid)) && matches(pid)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** The pid of `ckpt`'s live child whose command name is `comm` (the app, not the watchdog shell), if any. */
export function childNamed(parent: number, comm: string): number | undefined {
  return liveChild(parent, (pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm);
}

/** The pid of `ckpt`'s live child running the executable `exe` (argv[0]), if any. */
export function childRunning(parent: number, exe: string): number | undefined {
  return liveChild(parent, (pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === exe);
}

/**
 * When a test interrupts a run: after `ms` of wall time, or once the program's own progress has
 * `reached` a point (a step, a time directory). Progress is what a loaded machine cannot stretch
 * past the end of the run; wall time is kept for moments inside the start-up.
 */
export type Moment = number | { label: string; reached: () => boolean };

/** How a moment reads in a message. */
export function momentText(moment: Moment): string {
  return typeof moment === 'number' ? `${moment} ms` : moment.label;
}

/** Waits for `moment` unless the run ends first; throws then (the moment came too late). */
export async function sleepWhileRunning(
  moment: Moment,
  run: CkptChild,
  what: string,
  note = '',
): Promise<void> {
  const came =
    typeof moment === 'number'
      ? sleep(moment)
      : waitFor(moment.reached, moment.label, { timeoutMs: 10 * 60_000, everyMs: 20 });
  const ended = await Promise.race([came.then(() => false), run.exited.then(() => true)]);
  if (ended) throw new Error(`ckpt ended before ${what}: ${run.output().stderr} ${note}`);
}

/**
 * Waits for ckpt's first capture, then SIGKILLs the app (`comm`) `delayMs` later; resolves with
 * ckpt's exit once it has restarted the app to its end, after checking the kill landed. When the
 * app has finished by then (the machine's load changed since `delayMs` was drawn), resolves with
 * the run's end and how long after the first capture it came, for the caller to draw again.
 */
export async function killAppAfterFirstCapture(
  run: CkptChild,
  comm: string,
  delayMs: number,
  captureTimeoutMs: number,
): Promise<{ done: CkptExit } | { finishedFirst: CkptExit; msAfterCapture: number }> {
  await waitFor(() => /captured .* as checkpoint #1\b/.test(run.output().stderr), 'a first capture', {
    timeoutMs: captureTimeoutMs,
    explain: () => run.output().stderr,
  });
  const captured = Date.now();
  await sleep(delayMs);
  const app = childNamed(run.pid, comm);
  if (app === undefined) {
    const finishedFirst = await run.exited;
    expect(
      finishedFirst.code,
      `no running ${comm} under ckpt, and no clean end:\n${finishedFirst.stderr}`,
    ).toBe(0);
    return { finishedFirst, msAfterCapture: Date.now() - captured };
  }
  process.kill(app, 'SIGKILL');
  const done = await run.exited;
  // The kill landed: ckpt saw its app die by SIGKILL (a run that had finished would not say so).
  expect(done.stderr, done.stderr).toContain('ckpt: the program crashed (killed by SIGKILL)');
  return { done };
}

/**
 * Waits for ckpt's second capture, then (up to a second later) the node dies: the app's group and
 * ckpt are SIGKILLed at once. Checks both kills landed mid-run; resolves with ckpt's exit.
 */
export async function crashNodeAfterSecondCapture(run: CkptChild, comm: string): Promise<CkptExit> {
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  await waitFor(() => /as checkpoint #2\b/.test(run.output().stderr) || ended, 'a second capture', {
    timeoutMs: 90_000,
    explain: () => run.output().stderr,
  });
  expect(ended, `ckpt ended before a second capture:\n${run.output().stderr}`).toBe(false);
  await sleep(Math.round(Math.random() * 1000));
  const app = childNamed(run.pid, comm);
  expect(app, `no running ${comm} under ckpt\n${run.output().stderr}`).toBeDefined();
  process.kill(-app!, 'SIGKILL');
  process.kill(run.pid, 'SIGKILL');
  const crashed = await run.exited;
  // The kill landed, and before the run finished: ckpt died by the signal, mid-run.
  expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
  expect(crashed.stderr).not.toContain('ckpt: the program finished');
  await waitFor(() => !isAlive(app!), `${comm} to be gone`);
  return crashed;
}

/**
 * Starts ckpt, waits for `started` (e.g. the app under it), SIGTERMs ckpt `moment` ms later (it
 * must still run then, and stop with 75), calls `afterStop`, then starts the same command again,
 * which must finish with 0. `beforeStop` runs just before the SIGTERM.
 */
export async function stopAndRerun(o: {
  start: () => CkptChild;
  moment: Moment;
  replay: string;
  started?: (run: CkptChild) => Promise<unknown>;
  beforeStop?: () => void;
  afterStop?: (stopped: CkptExit) => void;
}): Promise<{ stopped: CkptExit; end: CkptExit }> {
  const first = o.start();
  await o.started?.(first);
  await sleepWhileRunning(o.moment, first, `the SIGTERM at ${momentText(o.moment)}`, o.replay);
  o.beforeStop?.();
  process.kill(first.pid, 'SIGTERM');
  const stopped = await first.exited;
  expect(stopped.code, `${stopped.stderr} ${o.replay}`).toBe(75);
  o.afterStop?.(stopped);
  const end = await o.start().exited;
  expect(end.code, `${end.stderr} ${o.replay}`).toBe(0);
  return { stopped, end };
}

/**
 * SIGKILLs the app under `run` (found by `app` once ckpt has run `moment` ms) and waits for ckpt,
 * which must restart it once and finish with 0.
 */
export async function killAppAndFinish(o: {
  run: CkptChild;
  moment: Moment;
  replay: string;
  app: () => Promise<number | undefined>;
}): Promise<CkptExit> {
  await sleepWhileRunning(o.moment, o.run, `the SIGKILL at ${momentText(o.moment)}`, o.replay);
  const pid = await o.app();
  expect(pid, `the app running at ${momentText(o.moment)} ${o.replay}`).toBeDefined();
  process.kill(pid!, 'SIGKILL');
  const end = await o.run.exited;
  expect(end.code, `${end.stderr} ${o.replay}`).toBe(0);
  expect(end.stderr).toMatch(/crashed \(killed by SIGKILL\); restart 1\/5/);
  return end;
}
