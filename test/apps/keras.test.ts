/**
 * `ckpt run --app tf` with python/ckpt_keras.py, against the Keras stand-in of
 * test/fixtures/keras (Keras and TensorFlow cannot be installed here; the stand-in copies Keras
 * 3's file behaviour: BackupAndRestore saves the weights in place, then the metadata, and
 * restores the epoch only). The training script is test/fixtures/keras/train.py. Every result
 * is compared exactly (repr of every float) with an uninterrupted bare run:
 * (a) a SIGTERM to ckpt with `stop="epoch"`: exit 75, the same command resumes, identical;
 * (b) with `stop="now"`: the stop is saved and committed mid-epoch, the resume finishes (Keras
 *     trains that epoch again, so it is not identical: docs/apps.md);
 * (c) a kill between Keras's weights and metadata writes, after the best epoch: plain Keras
 *     resumes mismatched (it differs), ckpt resumes the committed pair and the kept best value
 *     (identical), and without `model_checkpoint=` the best model is overwritten (it differs).
 */
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { cleanEnv, killLeftoverCkpts, runCkpt, startCkpt } from '../helpers/cli.js';
import { describeNeeds, H5PY } from '../helpers/needs.js';
import { runProgram } from '../helpers/program.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const PYTHON = '/usr/bin/python3';
const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'keras');
const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const REPLAY = `(replay with CKPT_TEST_SEED=${SEED})`;
/** 12 epochs of 20 steps of 50 ms: ~12 s. */
const TRAIN = { TRAIN_EPOCHS: '12', TRAIN_STEPS: '20', TRAIN_STEP_SECONDS: '0.05' };

describeNeeds('Keras (stand-in) under ckpt run --app tf with ckpt_keras.CkptCommit', H5PY, () => {
  const tempDir = useTempDirs('ckpt-keras-');
  const random = seeded(SEED);
  let reference = '';
  beforeAll(async () => {
    requireBuild();
    const dir = workspace();
    const bare = await runProgram([PYTHON, 'train.py'], {
      cwd: dir,
      env: cleanEnv({ ...TRAIN, PYTHONPATH: `${FIXTURE}:${join(REPO_ROOT, 'python')}` }),
    });
    expect(bare.code, bare.output).toBe(0);
    reference = readFileSync(join(dir, 'result.json'), 'utf8');
  }, 60_000);
  afterEach(() => killLeftoverCkpts());

  function workspace(): string {
    const dir = tempDir();
    copyFileSync(join(FIXTURE, 'train.py'), join(dir, 'train.py'));
    return dir;
  }
  /** ckpt's environment: the stand-in keras on PYTHONPATH (the app adds python/), a store. */
  const env = (dir: string, extra: Record<string, string> = {}) =>
    cleanEnv({
      ...TRAIN,
      ...extra,
      PYTHONPATH: FIXTURE,
      CKPT_STORE: join(dir, '..', `${dir.split('/').pop()}.store`),
    });
  const run = (dir: string, extra: Record<string, string> = {}) =>
    runCkpt(['run', '--app', 'tf', '--', PYTHON, 'train.py'], {
      cwd: dir,
      env: env(dir, extra),
      timeoutMs: 90_000,
    });
  const result = (dir: string) => readFileSync(join(dir, 'result.json'), 'utf8');

  /** SIGTERMs ckpt between 20 % and 70 % of the run; returns its exit and stderr. */
  async function stopAtRandom(dir: string, extra: Record<string, string>) {
    const ckpt = startCkpt(['run', '--app', 'tf', '--', PYTHON, 'train.py'], {
      cwd: dir,
      env: env(dir, extra),
    });
    const at = 2400 + random() * 6000;
    await waitFor(() => existsSync(join(dir, 'backup', 'latest.weights.h5')), 'the first backup', {
      timeoutMs: 30_000,
    });
    await sleep(at);
    const sentAt = Date.now();
    ckpt.child.kill('SIGTERM');
    const exit = await ckpt.exited;
    return {
      exit,
      sentAt,
      context: `SIGTERM to ckpt ${Math.round(at)} ms after the first backup ${REPLAY}\n${exit.stderr}`,
    };
  }

  it('(a) stop="epoch": SIGTERM to ckpt ends training at the epoch end (exit 75); the same command resumes; identical', async () => {
    const dir = workspace();
    const { exit, context } = await stopAtRandom(dir, { TRAIN_STOP: 'epoch' });
    expect(exit.code, context).toBe(75);
    expect(existsSync(join(dir, 'result.json')), context).toBe(false);
    const resumed = run(dir, { TRAIN_STOP: 'epoch' });
    expect(resumed.code, `${context}\n${resumed.stderr}`).toBe(0);
    // Stopped at an epoch end: the checkpoint's step is a whole number of epochs (20 steps each).
    const step = Number(/resuming from checkpoint #\d+ \(step (\d+)\)/.exec(resumed.stderr)?.[1]);
    expect(step % 20, `${context}\n${resumed.stderr}`).toBe(0);
    expect(result(dir), `${context}\n${resumed.stderr}`).toBe(reference);
  }, 120_000);

  it('(b) stop="now": the stop is saved and committed at the next batch (exit 75); the resume finishes', async () => {
    const dir = workspace();
    const { exit, sentAt, context } = await stopAtRandom(dir, { TRAIN_STOP: 'now' });
    expect(exit.code, context).toBe(75);
    // The newest checkpoint answered the stop: committed after it (in this mode no epoch-end
    // commit can follow the signal: the process ends at the next batch).
    const listed = runCkpt(['ls', '--json'], { cwd: dir, env: env(dir) });
    const newest = (
      JSON.parse(listed.stdout) as { checkpoints: Array<{ seq: number; time: string }> }
    ).checkpoints.at(-1)!;
    const after = Date.parse(newest.time) - sentAt;
    expect(after, context).toBeGreaterThan(0);
    const resumed = run(dir, { TRAIN_STOP: 'now' });
    expect(resumed.code, `${context}\n${resumed.stderr}`).toBe(0);
    expect(resumed.stderr, context).toContain(`resuming from checkpoint #${newest.seq} `);
    expect(JSON.parse(result(dir)).w, context).toHaveLength(4);
  }, 120_000);

  it("(c) a kill between Keras's weights and metadata, after the best epoch: ckpt resumes identical; plain Keras and a forgotten best do not", async () => {
    // Epoch index 4 is the best; the kill comes in epoch index 5's save (metadata says 6).
    const die = { KERAS_STANDIN_DIE_AFTER_WEIGHTS: '6' };
    // Plain Keras: the rerun pairs epoch 5's weights with epoch 4's counter.
    const bare = workspace();
    const bareEnv = cleanEnv({ ...TRAIN, ...die, PYTHONPATH: `${FIXTURE}:${join(REPO_ROOT, 'python')}` });
    const killed = await runProgram([PYTHON, 'train.py'], { cwd: bare, env: bareEnv });
    expect(killed.signal, killed.output).toBe('SIGKILL');
    const rerun = await runProgram([PYTHON, 'train.py'], { cwd: bare, env: bareEnv });
    expect(rerun.code, rerun.output).toBe(0);
    expect(JSON.parse(result(bare)).w, 'plain Keras after the kill').not.toEqual(JSON.parse(reference).w);

    // Under ckpt: restarted from the committed pair and the kept best value.
    const dir = workspace();
    const done = run(dir, die);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/the program crashed \(killed by SIGKILL\)/);
    expect(done.stderr).toMatch(/resuming from checkpoint #\d+ \(step 100\)/);
    expect(result(dir), done.stderr).toBe(reference);

    // Without model_checkpoint=, the best value is forgotten and epoch 5 overwrites the best model.
    const forgot = workspace();
    const again = run(forgot, { ...die, TRAIN_FORGET_BEST: '1' });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(result(forgot)).w, again.stderr).toEqual(JSON.parse(reference).w);
    expect(JSON.parse(result(forgot)).best_w, again.stderr).not.toEqual(JSON.parse(reference).best_w);
    rmSync(join(forgot, 'backup'), { recursive: true, force: true });
  }, 150_000);
});
