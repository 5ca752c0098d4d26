/**
 * `ckpt sbatch --array` as a new user meets it (dry runs; no cluster needed): with no store named,
 * each task runs in task-<id>/ with its own store there, and command words naming files of the
 * submit directory are made absolute; one store for all tasks is refused with the fix.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { arrayOption } from '../../src/slurm/index.js';
import { cleanEnv, runCkpt } from '../helpers/cli.js';
import { requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const tmp = useTempDirs('ckpt-sbatch-array-');
beforeAll(requireBuild);

/** The script's lines after its comments. */
const body = (script: string) => script.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

describe('ckpt sbatch --array', () => {
  it('reads the array from each form sbatch takes', () => {
    expect(arrayOption(['--time', '5', '--array=0-3'])).toBe('0-3');
    expect(arrayOption(['--array', '1,4'])).toBe('1,4');
    expect(arrayOption(['-a', '0-9%2'])).toBe('0-9%2');
    expect(arrayOption(['-a0-1'])).toBe('0-1');
    expect(arrayOption(['-p', 'debug', '--account=a'])).toBeUndefined();
  });

  it('gives each task a directory and a store of its own by default, and says so', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'sim.py'), '');
    const r = runCkpt(
      ['sbatch', '-a', '0-1', '--dry-run', '--', 'python3', 'sim.py', 'out.txt', '--seed', '3'],
      {
        cwd: dir,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const task = join(dir, 'task-"${SLURM_ARRAY_TASK_ID}"');
    const lines = body(r.stdout);
    expect(lines[0]).toBe(`mkdir -p -- ${task} && cd -- ${task} || exit 1`);
    // sim.py exists here and is made absolute; out.txt does not, so it is the task's own.
    expect(lines[1]).toMatch(
      new RegExp(
        `--store ${join(dir, 'task-%a', '.ckpt')} run -- python3 ${join(dir, 'sim.py')} out.txt --seed 3$`,
      ),
    );
    expect(r.stderr).toContain(`each task of the array runs in ${join(dir, 'task-%a')} with its store in`);
    expect(r.stderr).toContain(`sim.py is ${join(dir, 'sim.py')}`);
  });

  it('keeps a named per-task store and runs the tasks in their own directories unless told otherwise', () => {
    const dir = tmp();
    const named = runCkpt(
      ['--store', join(dir, 'runs/%a'), 'sbatch', '--array=0-1', '--dry-run', '--', 'true'],
      {
        cwd: dir,
      },
    );
    expect(named.code, named.stderr).toBe(0);
    expect(body(named.stdout)[1]).toContain(`--store ${join(dir, 'runs/%a')} run -- true`);
    const shared = runCkpt(
      ['--store', join(dir, 'runs/%a'), 'sbatch', '--array=0-1', '--workdir', '.', '--dry-run', '--', 'true'],
      { cwd: dir },
    );
    expect(shared.code, shared.stderr).toBe(0);
    expect(body(shared.stdout)).toHaveLength(1);
    const custom = runCkpt(['sbatch', '--array=0-1', '--workdir', 'out/%A_%a', '--dry-run', '--', 'true'], {
      cwd: dir,
    });
    expect(custom.code, custom.stderr).toBe(0);
    expect(body(custom.stdout)[0]).toContain(
      `cd -- ${join(dir, 'out/')}"\${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}"_"\${SLURM_ARRAY_TASK_ID}"`,
    );
  });

  it('refuses one store for all tasks, naming the store and the fix', () => {
    const dir = tmp();
    const cases = [
      { args: ['--store', join(dir, 's'), 'sbatch', '--array=0-1'], env: cleanEnv() },
      { args: ['sbatch', '--array=0-1'], env: { ...cleanEnv(), CKPT_STORE: join(dir, 's') } },
      { args: ['sbatch', '--array=0-1', '--workdir', '.'], env: cleanEnv() },
      { args: ['--store', join(dir, 's/%A'), 'sbatch', '--array=0-1'], env: cleanEnv() },
    ];
    for (const { args, env } of cases) {
      const r = runCkpt([...args, '--', 'true'], { cwd: dir, env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(
        /`--array=0-1` runs its tasks at once, but they would share the store `[^`]+`/,
      );
      expect(r.stderr).toMatch(/Give each task its own store with %a, e.g. --store '[^']+-%a'/);
    }
  });
});
