/**
 * The runs the app tests share ({@link useAppRuns}): a workspace per test, the bare reference
 * run, and the interruption scenarios, each run to its end with the checks every app must pass;
 * the app's own checks come in through hooks and after the return. app-conformance.ts registers
 * them as one suite. Built on the moments of app-scenario.ts (SIGTERM to ckpt, SIGKILL to the
 * app, a node crash).
 */
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { crashNodeAfterSecondCapture, killAppAfterFirstCapture } from './app-scenario.js';
import { type CkptChild, type CkptExit, ckptJson, cleanEnv, killLeftoverCkpts, startCkpt } from './cli.js';
import { type ProgramResult, runProgram } from './program.js';
import { requireBuild } from './repo.js';
import { useTempDirs } from './tmp.js';
import { sleep, waitFor } from './wait-for.js';

/** A working directory with its own store (CKPT_STORE in `env`). */
export interface AppWorkspace {
  cwd: string;
  store: string;
  env: NodeJS.ProcessEnv;
}

/** How an app's tests set up their runs. */
export interface AppSetup<R> {
  /** Prefix of the temporary directories. */
  prefix: string;
  /** The app's process name (/proc/PID/comm) under ckpt. */
  comm: string;
  /** The app's command. */
  command: string[];
  /** `ckpt run` options every run gets (before the test's own). */
  runOptions?: string[];
  /** Environment for ckpt and the app besides CKPT_STORE. */
  env?: Record<string, string>;
  /** Puts the app's input into a fresh working directory. */
  prepare(cwd: string): void;
  /** Reads the result of the finished bare run in `cwd` (given its output). */
  reference(cwd: string, bare: ProgramResult): R;
  timeoutMs: number;
}

/** What a crash scenario needs to know of the app. */
export interface TornCheckpoint {
  /** The file only a finished run writes, if the app writes one. */
  finalFile?: string;
  /** Tears the app's newest checkpoint file in `cwd`; returns its path. */
  tear(cwd: string): string;
  /** The app's own restart command (run bare in a copy of the torn workspace: it must fail). */
  restart: string[];
  /** What the app says when it fails on the torn file. */
  failure: RegExp;
}

/** When {@link AppRuns.stopThenResume} stops ckpt. */
export interface StopOptions {
  /**
   * For an app that writes nothing when stopped (NWChem is aborted): wait up to this long for
   * ckpt's first capture, and stop at a random moment within 40 % of the reference run after it,
   * so that there is a checkpoint to resume.
   */
  afterFirstCaptureMs?: number;
}

/** The reference run's result, and how long it took. */
export type Timed<R> = R & { ms: number };

/** The runs of an app's tests: see {@link useAppRuns}. */
export interface AppRuns<R> {
  /** How long one test may take. */
  timeoutMs: number;
  /** The uninterrupted, bare run: computed once, shared by the tests. */
  uninterrupted(): Promise<Timed<R>>;
  /** A test given the reference run and a fresh workspace. */
  itRuns(title: string, body: (ref: Timed<R>, w: AppWorkspace) => Promise<void>): void;
  /** `ckpt run [runOptions] [options] -- command [extra]` in `w`. */
  start(w: AppWorkspace, options: string[], extra?: string[]): CkptChild;
  /** Runs `command` in `cwd` to its end without ckpt, with the setup's environment. */
  runBare(command: readonly string[], cwd: string): Promise<ProgramResult>;
  /**
   * SIGTERMs ckpt at a random moment between 15 % and 70 % of the reference run: ckpt must stop
   * with 75. `checkStopped` then looks at the stopped run's files, before the same command runs
   * again, which must resume from a checkpoint and finish. A run that ends before its moment (the
   * load changed) is run again in a fresh workspace: the workspace used is returned.
   */
  stopThenResume(
    w: AppWorkspace,
    checkStopped: (stopped: CkptExit, context: string, w: AppWorkspace) => void,
    options?: StopOptions,
  ): Promise<{ stopped: CkptExit; resumed: CkptExit; context: string; w: AppWorkspace }>;
  /**
   * SIGKILLs the app up to 20 % of the reference run's time after ckpt's first capture: ckpt must
   * restart it once from a checkpoint and finish, and `ckpt status` must say so. Resolves with the
   * workspace the kill landed in (a fresh one when a run ended before its kill).
   */
  killThenRestart(
    w: AppWorkspace,
    captureTimeoutMs: number,
  ): Promise<{ done: CkptExit; context: string; w: AppWorkspace }>;
  /**
   * The node dies after ckpt's second capture (app and ckpt SIGKILLed at once), then the app's
   * newest checkpoint file is torn. As a control the app itself must fail to restart from a copy;
   * under ckpt the same command must set the torn file aside and resume from ckpt's newest one.
   */
  crashTearThenResume(
    w: AppWorkspace,
    torn: TornCheckpoint,
  ): Promise<{ resumed: CkptExit; newest: { seq: number; step: number }; context: string }>;
}

/**
 * Call inside the app's describe block: requires the build, kills leftover ckpts after each test,
 * removes the temporary directories, and returns the app's {@link AppRuns}.
 */
export function useAppRuns<R>(setup: AppSetup<R>): AppRuns<R> {
  const tempDir = useTempDirs(setup.prefix);
  let reference: Promise<Timed<R>> | undefined;
  beforeAll(() => requireBuild());
  afterEach(() => killLeftoverCkpts());

  const workspace = (): AppWorkspace => {
    const cwd = tempDir();
    setup.prepare(cwd);
    const store = join(tempDir(), 'store');
    return { cwd, store, env: cleanEnv({ ...setup.env, CKPT_STORE: store }) };
  };
  const runBare = (command: readonly string[], cwd: string): Promise<ProgramResult> =>
    runProgram(command, { cwd, env: cleanEnv(setup.env) });
  const uninterrupted = (): Promise<Timed<R>> => {
    reference ??= (async () => {
      const { cwd } = workspace();
      const started = Date.now();
      const bare = await runBare(setup.command, cwd);
      const ms = Date.now() - started;
      expect(bare.code, `bare ${setup.command.join(' ')} failed:\n${bare.output}`).toBe(0);
      return { ...setup.reference(cwd, bare), ms };
    })();
    return reference;
  };
  const start = (w: AppWorkspace, options: string[], extra: string[] = []): CkptChild =>
    startCkpt(['run', ...(setup.runOptions ?? []), ...options, '--', ...setup.command, ...extra], w);
  const statusOf = (w: AppWorkspace) =>
    ckptJson<{ state: string; restarts: number }>(['--store', w.store, 'status'], { cwd: w.cwd });

  return {
    timeoutMs: setup.timeoutMs,
    uninterrupted,
    itRuns: (title, body) => {
      it(title, async () => body(await uninterrupted(), workspace()), setup.timeoutMs);
    },
    start,
    runBare,

    async stopThenResume(first, checkStopped, options = {}) {
      const ref = await uninterrupted();
      // The moment is drawn from the length of a run. When the machine's load has changed since
      // the reference and this run ends before it, the moment is drawn again from this run's
      // length, in a fresh workspace (at most twice).
      let w = first;
      let length = ref.ms;
      let stopped: CkptExit | undefined;
      let when = '';
      for (let attempt = 1; stopped === undefined; attempt++) {
        const run = start(w, ['--grace', '30s']);
        const startedAt = Date.now();
        let delay: number;
        if (options.afterFirstCaptureMs === undefined) {
          delay = Math.round(length * (0.15 + 0.55 * Math.random()));
          when = `${delay} ms`;
        } else {
          await waitFor(() => /as checkpoint #1\b/.test(run.output().stderr), 'a first capture', {
            timeoutMs: options.afterFirstCaptureMs,
          });
          delay = Math.round(length * 0.4 * Math.random());
          when = `${delay} ms after the first capture`;
        }
        const ended = await Promise.race([sleep(delay).then(() => false), run.exited.then(() => true)]);
        if (!ended) {
          process.kill(run.pid, 'SIGTERM');
          stopped = await run.exited;
          break;
        }
        const end = await run.exited;
        expect(end.code, `the run that ended before its SIGTERM (${when}):\n${end.stderr}`).toBe(0);
        expect(attempt, `the run ended before its SIGTERM ${attempt} times (last: ${when})`).toBeLessThan(3);
        length = Date.now() - startedAt;
        w = workspace();
      }
      const before = `SIGTERM ${when}\n${stopped.stderr}\n${stopped.stdout}`;
      expect(stopped.code, before).toBe(75);
      expect(stopped.stderr, before).toMatch(/ckpt: stopped \(SIGTERM received/);
      checkStopped(stopped, before, w);

      const resumed = await start(w, ['--grace', '30s']).exited;
      const context = `${before}\n--- resumed ---\n${resumed.stderr}`;
      expect(resumed.code, context).toBe(0);
      expect(resumed.stderr, context).toMatch(/ckpt: resuming from checkpoint #\d+/);
      expect(resumed.stderr, context).toContain('ckpt: the program finished');
      return { stopped, resumed, context, w };
    },

    async killThenRestart(w, captureTimeoutMs) {
      const ref = await uninterrupted();
      // As for a stop: when the run ends before its kill, the moment is drawn again from how
      // long this run went on after its first capture, in a fresh workspace (at most twice).
      let span = ref.ms * 0.2;
      let done: CkptExit | undefined;
      let delay = 0;
      for (let attempt = 1; done === undefined; attempt++) {
        const run = start(w, ['--max-restarts', '5', '--backoff', '0.2s']);
        delay = Math.round(span * Math.random());
        const outcome = await killAppAfterFirstCapture(run, setup.comm, delay, captureTimeoutMs);
        if ('done' in outcome) {
          done = outcome.done;
          break;
        }
        expect(attempt, `the run ended before its SIGKILL ${attempt} times (last: ${delay} ms)`).toBeLessThan(
          3,
        );
        span = outcome.msAfterCapture * 0.5;
        w = workspace();
      }
      const context = `SIGKILL ${delay} ms after the first capture\n${done.stderr}`;
      expect(done.code, context).toBe(0);
      expect(done.stderr, context).toContain('ckpt: the program crashed (killed by SIGKILL); restart 1/5');
      expect(done.stderr, context).toMatch(/ckpt: resuming from checkpoint #\d+/);
      expect(done.stderr, context).toContain('ckpt: the program finished');
      expect(statusOf(w), context).toMatchObject({ state: 'finished', restarts: 1 });
      return { done, context, w };
    },

    async crashTearThenResume(w, torn) {
      // The node dies: the app and ckpt at the same moment, no chance to clean up.
      const crashed = await crashNodeAfterSecondCapture(start(w, []), setup.comm);
      if (torn.finalFile !== undefined) {
        expect(existsSync(join(w.cwd, torn.finalFile)), `${setup.comm} finished before the kill`).toBe(false);
      }
      const ls = ckptJson<{ checkpoints: { seq: number; step: number }[] }>(['--store', w.store, 'ls'], {
        cwd: w.cwd,
      });
      const newest = ls.checkpoints.at(-1)!;

      const file = torn.tear(w.cwd);
      const control = tempDir();
      cpSync(w.cwd, control, { recursive: true });
      const bare = await runBare(torn.restart, control);
      expect(bare.code, bare.output).not.toBe(0);
      expect(bare.output).toMatch(torn.failure);

      const resumed = await start(w, ['--max-restarts', '0']).exited;
      const context = `${crashed.stderr}\n--- after the crash (tore ${file}) ---\n${resumed.stderr}\n${resumed.stdout}`;
      expect(resumed.code, context).toBe(0);
      expect(resumed.stderr, context).toMatch(/ckpt: set aside \d+ newer file\(s\)/);
      expect(resumed.stderr, context).toContain(`ckpt: resuming from checkpoint #${newest.seq} `);
      expect(resumed.stderr, context).not.toContain('crashed');
      expect(existsSync(join(w.cwd, '.ckpt-aside')), 'the torn file was kept aside').toBe(true);
      return { resumed, newest, context };
    },
  };
}
