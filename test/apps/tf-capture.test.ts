/**
 * `ckpt run --app tf`'s capture rule for tf.train.CheckpointManager directories: a checkpoint is
 * captured only once the `checkpoint` pointer file names it and its index and every shard are
 * there, and it is captured together with the pointer. Units on the rule, then a writer that
 * saves as CheckpointManager does (test/fixtures/tf/manager.py: files in place, then the pointer
 * renamed into place, old checkpoints deleted) SIGKILLed three times at random moments under
 * ckpt: every restart resumes from a whole checkpoint the pointer names, and the run ends right.
 */
import { copyFileSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pointedCheckpoint, pointedComplete, selectPointed } from '../../src/apps/index.js';
import { cleanEnv, killLeftoverCkpts, startCkpt } from '../helpers/cli.js';
import { describeNeeds, PYTHON3 } from '../helpers/needs.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const REPLAY = `(replay with CKPT_TEST_SEED=${SEED})`;

describe('the CheckpointManager capture rule', () => {
  const files = [
    'run/checkpoint',
    'run/ckpt-3.index',
    'run/ckpt-3.data-00000-of-00002',
    'run/ckpt-3.data-00001-of-00002',
    'run/ckpt-4.index',
    'run/ckpt-4.data-00000-of-00002',
    'other.index',
  ];

  it('reads the pointer: the checkpoint model_checkpoint_path names', () => {
    const text =
      'model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "ckpt-3"\nall_model_checkpoint_paths: "ckpt-4"\n';
    expect(pointedCheckpoint(text)).toBe('ckpt-4');
    expect(pointedCheckpoint('all_model_checkpoint_paths: "ckpt-4"\n')).toBeUndefined();
    expect(pointedCheckpoint('')).toBeUndefined();
  });

  it('selects the pointer and the named checkpoint only: not one being written, not older ones', () => {
    const pointers = new Map([['run/checkpoint', 'ckpt-3']]);
    expect(selectPointed(files, pointers)).toEqual([
      'run/checkpoint',
      'run/ckpt-3.data-00000-of-00002',
      'run/ckpt-3.data-00001-of-00002',
      'run/ckpt-3.index',
    ]);
    expect(pointedComplete(selectPointed(files, pointers), pointers)).toBe(true);
  });

  it('is incomplete while a shard or the index is missing, or with no pointer', () => {
    const pointers = new Map([['run/checkpoint', 'ckpt-4']]);
    expect(pointedComplete(selectPointed(files, pointers), pointers)).toBe(false); // shard 1 of 2 missing
    const noIndex = files.filter((f) => f !== 'run/ckpt-3.index');
    const three = new Map([['run/checkpoint', 'ckpt-3']]);
    expect(pointedComplete(selectPointed(noIndex, three), three)).toBe(false);
    expect(pointedComplete(files, new Map())).toBe(false);
  });
});

describeNeeds('a CheckpointManager-style writer under ckpt run --app tf, SIGKILLed', PYTHON3, () => {
  const tempDir = useTempDirs('ckpt-tf-');
  const random = seeded(SEED);
  beforeAll(() => requireBuild());
  afterEach(() => killLeftoverCkpts());

  /** The pid of manager.py running in `dir`, if any. */
  function writerIn(dir: string): number | undefined {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // python3 manager.py itself, not ckpt (whose command line names it too)
        const [exe, script] = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (
          /python3$/.test(exe ?? '') &&
          script === 'manager.py' &&
          readlinkSync(`/proc/${entry}/cwd`) === dir
        )
          return Number(entry);
      } catch {
        // gone
      }
    }
    return undefined;
  }

  it('every restart resumes from a whole, pointed checkpoint; the run ends with all 12 saves', async () => {
    const dir = tempDir();
    copyFileSync(join(REPO_ROOT, 'test', 'fixtures', 'tf', 'manager.py'), join(dir, 'manager.py'));
    const env = cleanEnv({ CKPT_STORE: `${dir}.store`, MANAGER_SAVES: '12' });
    const ckpt = startCkpt(
      ['run', '--app', 'tf', '--settle', '0.5', '--max-restarts', '5', '--', 'python3', 'manager.py'],
      { cwd: dir, env },
    );
    const kills: string[] = [];
    const count = (text: string, pattern: RegExp) => (text.match(pattern) ?? []).length;
    const captures = () => count(ckpt.output().stderr, /captured \d+ file\(s\) as checkpoint/g);
    for (let k = 0; k < 3; k++) {
      // Each kill lands on a writer that has started (said where it starts), after a capture of
      // its own: a kill in the restart's start-up would resume nothing new.
      await waitFor(() => count(ckpt.output().stdout, /start at \d+/g) > k, `start ${k + 1} of the writer`, {
        timeoutMs: 30_000,
        explain: () => ckpt.output().stderr,
      });
      const pid = await waitFor(() => writerIn(dir), 'the writer', { timeoutMs: 15_000 });
      const captured = captures();
      await waitFor(() => captures() > captured, 'a new capture', {
        timeoutMs: 30_000,
        explain: () => ckpt.output().stderr,
      });
      const wait = random() * 900; // anywhere in a save's pause or its writes
      await sleep(wait);
      process.kill(pid, 'SIGKILL');
      kills.push(`kill ${k + 1}: ${Math.round(wait)} ms after a capture`);
    }
    const exit = await ckpt.exited;
    const context = `${kills.join('; ')} ${REPLAY}\n${exit.stderr}\n${exit.stdout}`;
    expect(exit.code, context).toBe(0);
    expect(readFileSync(join(dir, 'result.txt'), 'utf8'), context).toBe('12\n');
    expect(exit.stdout, context).not.toMatch(/torn or mismatched/);
    // Each start after a kill resumed where ckpt said, from a checkpoint the writer checked whole.
    const starts = [...exit.stdout.matchAll(/start at (\d+)/g)].map((m) => Number(m[1]));
    const resumed = [...exit.stderr.matchAll(/resuming from checkpoint #\d+ \(step (\d+)\)/g)].map((m) =>
      Number(m[1]),
    );
    expect(starts.length, context).toBe(4);
    expect(starts.slice(1), context).toEqual(resumed);
    expect(
      resumed.every((step) => step > 0),
      context,
    ).toBe(true);
  }, 120_000);
});
