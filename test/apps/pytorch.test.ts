/**
 * `ckpt run --app pytorch` with real PyTorch (Debian's python3-torch, CPU) on
 * examples/pytorch/train.py (~20–40 s): a graceful stop of ckpt at a random moment and a resume,
 * and a SIGKILL of the training process at a random moment, both end with every final tensor
 * (model, optimizer state, scheduler, the RNGs' next draws) equal to an uninterrupted run's,
 * compared with torch.equal (equal tensors do not make byte-equal .pt files). Also
 * `ckpt doctor --app pytorch` with a python that cannot import torch.
 * Needs /usr/bin/python3 with torch (CKPT_TEST_PYTHON to use another; skipped without it, except
 * under CI, where that fails). Set CKPT_TEST_SEED to replay the random moments.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  childRunning,
  killAppAndFinish,
  type Moment,
  momentText,
  stopAndRerun,
} from '../helpers/app-scenario.js';
import { cleanEnv, killLeftoverCkpts, runCkpt, startCkpt } from '../helpers/cli.js';
import { describeNeeds, type Need } from '../helpers/needs.js';
import { runProgram } from '../helpers/program.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait-for.js';

const PYTHON = process.env.CKPT_TEST_PYTHON ?? '/usr/bin/python3';
const TRAIN = join(REPO_ROOT, 'examples', 'pytorch', 'train.py');
const COMPARE = join(REPO_ROOT, 'examples', 'pytorch', 'compare.py');
const TRAIN_ENV = { TRAIN_EPOCHS: '24', TRAIN_EVERY: '200' };
const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const REPLAY = `(replay with CKPT_TEST_SEED=${SEED})`;
const CASE_TIMEOUT = 150_000;
const TORCH: Need = {
  name: `torch for ${PYTHON}`,
  present: spawnSync(PYTHON, ['-c', 'import torch']).status === 0,
  install:
    'install the Debian package `python3-torch` (apt-get install python3-torch), or set CKPT_TEST_PYTHON',
};

/** Runs a program to its end without blocking the event loop. */
const run = (cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) =>
  runProgram([cmd, ...args], { cwd, env });

interface Progress {
  starts: number[];
  lastStep: number;
  done: boolean;
}

/** The script's own story (TRAIN_PROGRESS): the step each start resumed at, the last step done. */
function readProgress(path: string): Progress {
  const progress: Progress = { starts: [], lastStep: 0, done: false };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return progress;
  }
  for (const line of text.split('\n')) {
    const start = /^start pid=\d+ step=(\d+)$/.exec(line);
    const step = /^step (\d+)$/.exec(line);
    if (start) progress.starts.push(Number(start[1]));
    else if (step) progress.lastStep = Number(step[1]);
    else if (line === 'done') progress.done = true;
  }
  return progress;
}

describeNeeds('ckpt run --app pytorch (train.py)', TORCH, () => {
  const tempDir = useTempDirs('ckpt-pytorch-');
  const random = seeded(SEED);
  let reference = '';
  let referenceSteps = 0;
  let keep = '';
  /**
   * A random moment while the run still goes: one time in ten during start-up (0.3–0.8 s in,
   * inside `import torch`), else once the script's own progress has reached a random step of the
   * first 60 % of the reference run's steps (steps, not seconds: a loaded CPU stretches time).
   */
  const randomMoment = (progress: string): Moment => {
    if (random() < 0.1) return 300 + Math.floor(random() * 500);
    const step = Math.floor(random() * 0.6 * referenceSteps);
    return {
      label: `step ${step}`,
      reached: () => {
        const p = readProgress(progress);
        return p.starts.length > 0 && p.lastStep >= step;
      },
    };
  };
  beforeAll(() => {
    requireBuild();
    keep = mkdtempSync(join(tmpdir(), 'ckpt-pytorch-reference-'));
  });
  afterAll(() => {
    if (keep) rmSync(keep, { recursive: true, force: true });
  });
  afterEach(killLeftoverCkpts);

  const expectSameTensors = async (dir: string, note: string): Promise<void> => {
    expect(reference, 'the reference run (first test) must have passed').not.toBe('');
    const compared = await run(PYTHON, [COMPARE, reference, join(dir, 'final.pt')], dir, cleanEnv());
    expect(compared.code, `${compared.output} ${note}`).toBe(0);
  };
  const ckptArgs = (store: string, ...options: string[]): string[] => [
    '--store',
    store,
    'run',
    '--app',
    'pytorch',
    ...options,
    '--',
    PYTHON,
    TRAIN,
  ];

  it(
    'trains uninterrupted (the reference)',
    async () => {
      const dir = tempDir();
      const started = Date.now();
      const progress = join(dir, 'progress.log');
      const result = await run(PYTHON, [TRAIN], dir, cleanEnv({ ...TRAIN_ENV, TRAIN_PROGRESS: progress }));
      expect(result.code, result.output).toBe(0);
      // Kept for the other tests (the temp dirs go after each test).
      reference = join(keep, 'reference.pt');
      writeFileSync(reference, readFileSync(join(dir, 'final.pt')));
      referenceSteps = readProgress(progress).lastStep;
      expect(referenceSteps).toBeGreaterThan(100);
      console.log(
        `pytorch reference run: ${((Date.now() - started) / 1000).toFixed(1)} s, ${referenceSteps} steps`,
      );
    },
    CASE_TIMEOUT,
  );

  /** A fresh directory and store for a training run, with its progress log in the environment. */
  function trainingRun(): { dir: string; store: string; progress: string; env: NodeJS.ProcessEnv } {
    const dir = tempDir();
    const progress = join(dir, 'progress.log');
    return {
      dir,
      store: join(tempDir(), 'store'),
      progress,
      env: cleanEnv({ ...TRAIN_ENV, TRAIN_PROGRESS: progress }),
    };
  }

  it(
    'SIGTERM to ckpt at a random moment: a checkpoint on request, exit 75; the same command resumes to equal tensors',
    async () => {
      const { dir, store, progress, env } = trainingRun();
      const args = ckptArgs(store, '--grace', '30s');
      const moment = randomMoment(progress);
      let before = readProgress(progress);
      let startsBefore = 0;
      const { stopped, end } = await stopAndRerun({
        start: () => startCkpt(args, { cwd: dir, env }),
        moment,
        replay: REPLAY,
        beforeStop: () => {
          before = readProgress(progress);
        },
        afterStop: () => {
          // (A stop during `import torch` comes before the script's first progress line.)
          startsBefore = readProgress(progress).starts.length;
        },
      });
      const after = readProgress(progress);
      expect(after.done).toBe(true);
      expect(after.starts).toHaveLength(startsBefore + 1);
      if (before.starts.length > 0) {
        // The script was running (its handler installed): it checkpointed on ckpt's request, at
        // or after the step it had reached when ckpt was told to stop.
        expect(stopped.stderr, REPLAY).not.toMatch(/does not handle/);
        expect(after.starts[1], `resumed step vs step at the stop ${REPLAY}`).toBeGreaterThanOrEqual(
          before.lastStep,
        );
        expect(after.starts[1]).toBeGreaterThan(0);
        expect(end.stderr).toContain(`(step ${after.starts[1]})`);
      }
      await expectSameTensors(dir, `(stopped at ${momentText(moment)}) ${REPLAY}`);
    },
    CASE_TIMEOUT,
  );

  it(
    'SIGKILL of the training process at a random moment: ckpt restarts it, equal tensors',
    async () => {
      const { dir, store, progress, env } = trainingRun();
      const run = startCkpt(ckptArgs(store, '--max-restarts', '5', '--backoff', '0.2s'), { cwd: dir, env });
      const moment = randomMoment(progress);
      await killAppAndFinish({
        run,
        moment,
        replay: REPLAY,
        app: () =>
          waitFor(() => childRunning(run.pid, PYTHON), 'the training process', { timeoutMs: 10_000 }),
      });
      const after = readProgress(progress);
      expect(after.done).toBe(true);
      // Two starts, or one when the kill came during `import torch` (before the first line).
      expect([1, 2]).toContain(after.starts.length);
      await expectSameTensors(dir, `(killed at ${momentText(moment)}) ${REPLAY}`);
    },
    CASE_TIMEOUT,
  );

  describe('ckpt doctor --app pytorch', () => {
    interface Finding {
      severity: string;
      code: string;
    }
    const doctor = (python: string, path?: string): { status: number | null; findings: Finding[] } => {
      const env = path ? cleanEnv({ PATH: path }) : cleanEnv();
      const r = runCkpt(['doctor', '--app', 'pytorch', '--json', '--', python, 'train.py'], {
        cwd: tempDir(),
        env,
      });
      return { status: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
    };

    it('finds torch with the right python', () => {
      const { status, findings } = doctor(PYTHON);
      expect(status).toBe(0);
      expect(findings).toContainEqual(expect.objectContaining({ severity: 'ok', code: 'INSTALLED' }));
    });

    it('reports a python3 first on PATH that cannot import torch (exit 1)', () => {
      // A real interpreter without the system's site-packages: `import torch` fails.
      const bin = join(tempDir(), 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'python3'), `#!/bin/sh\nexec ${PYTHON} -S "$@"\n`);
      chmodSync(join(bin, 'python3'), 0o755);
      const { status, findings } = doctor('python3', `${bin}:${process.env.PATH ?? ''}`);
      expect(status).toBe(1);
      const codes = findings.filter((f) => f.severity === 'error').map((f) => f.code);
      // When Debian's /usr/bin/python3 has torch, ckpt names it as the one to use.
      const system = spawnSync('/usr/bin/python3', ['-c', 'import torch']).status === 0;
      expect(codes).toEqual([system ? 'TORCH_OTHER_PYTHON' : 'NOT_INSTALLED']);
    });
  });
});
