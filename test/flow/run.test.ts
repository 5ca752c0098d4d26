import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runCkpt } from '../helpers/cli.js';
import { flowRecords, sideEffects, writeFanOut } from '../helpers/flow.js';
import { requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const tmp = useTempDirs('ckpt-flow-');
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const tasksRun = (dir: string) => sideEffects(dir).map(([task]) => task);

beforeAll(requireBuild);

describe('ckpt flow run (local executor)', () => {
  it('runs a fan-out pipeline, reruns nothing on a no-op rerun, and exactly the dependents of an edited input', () => {
    const dir = tmp();
    writeFanOut(dir, [1, 2, 3]);
    const first = runCkpt(['flow', 'run', '--jobs', '2'], { cwd: dir });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(tasksRun(dir).sort()).toEqual(['gen[k=1]', 'gen[k=2]', 'gen[k=3]', 'merge']);
    expect(readFileSync(join(dir, 'total.txt'), 'utf8')).toBe('VALUE 1\nVALUE 2\nVALUE 3\n');

    const again = runCkpt(['flow', 'run'], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 ran, 4 cached');
    expect(tasksRun(dir)).toHaveLength(4);
    const status = JSON.parse(runCkpt(['flow', 'status', '--json'], { cwd: dir }).stdout) as {
      tasks: { task: string; status: string; attempts: number }[];
    };
    expect(status.tasks.map((t) => [t.task, t.status, t.attempts])).toEqual([
      ['gen[k=1]', 'cached', 1],
      ['gen[k=2]', 'cached', 1],
      ['gen[k=3]', 'cached', 1],
      ['merge', 'cached', 1],
    ]);

    const old = readFileSync(join(dir, 'data', '2.txt'), 'utf8');
    appendFileSync(join(dir, 'data', '2.txt'), 'more\n');
    const plan = runCkpt(['flow', 'plan'], { cwd: dir });
    expect(plan.stdout).toContain('2 of 4 tasks would run.');
    const why = runCkpt(['flow', 'why', 'gen'], { cwd: dir });
    expect(why.code).toBe(0);
    expect(why.stdout).toContain(
      `input data/2.txt: ${sha(old).slice(0, 12)} → ${sha(`${old}more\n`).slice(0, 12)}`,
    );
    expect(why.stdout).toMatch(/gen\[k=1\]: skipped/);
    const whyJson = JSON.parse(runCkpt(['flow', 'why', 'gen', '--json'], { cwd: dir }).stdout) as {
      task: string;
      changes: { name: string; old: string; new: string }[];
    }[];
    expect(whyJson[1]!.changes).toEqual([
      expect.objectContaining({ name: 'data/2.txt', old: sha(old), new: sha(`${old}more\n`) }),
    ]);
    const third = runCkpt(['flow', 'run'], { cwd: dir });
    expect(third.code).toBe(0);
    expect(tasksRun(dir).slice(4)).toEqual(['gen[k=2]', 'merge']);
    expect(readFileSync(join(dir, 'total.txt'), 'utf8')).toBe('VALUE 1\nVALUE 2\nMORE\nVALUE 3\n');
  }, 120_000);

  it('reruns a task whose output was changed since its record, and not its dependents when it writes the same again', () => {
    const dir = tmp();
    writeFanOut(dir, [1, 2]);
    expect(runCkpt(['flow', 'run'], { cwd: dir }).code).toBe(0);
    writeFileSync(join(dir, 'parts', '1.txt'), 'tampered\n');
    expect(runCkpt(['flow', 'why', 'gen'], { cwd: dir }).stdout).toMatch(
      /output parts\/1.txt changed since its record/,
    );
    expect(runCkpt(['flow', 'run'], { cwd: dir }).code).toBe(0);
    // The rerun writes what merge's record saw: merge's inputs are unchanged, so it is not rerun.
    expect(tasksRun(dir).slice(3)).toEqual(['gen[k=1]']);
    expect(runCkpt(['flow', 'status'], { cwd: dir }).stdout).toMatch(/cached {3}merge/);
  });

  it('retries a failing task, never counts a failed task done, and does not run its dependents', async () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'ckpt-flow.yaml'),
      `version: 1
steps:
  flaky:
    run: test -e tried || { touch tried; exit 3; }; echo ok > flaky.txt
    outputs: [flaky.txt]
    retries: 1
  broken:
    run: echo partial > broken.txt; exit 4
    outputs: [broken.txt]
    retries: 1
  after:
    needs: [broken]
    run: echo never > after.txt
    outputs: [after.txt]
`,
    );
    const result = runCkpt(['flow', 'run'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/failed {3}flaky \(attempt 1\): it exited 3; retrying/);
    expect(result.stdout).toMatch(/done {5}flaky/);
    expect(result.stdout).toMatch(/failed {3}broken \(attempt 2\): it exited 4\n/);
    expect(result.stdout).toMatch(/blocked {2}after: broken did not finish/);
    const records = await flowRecords(dir);
    expect(records.filter((r) => r.task === 'broken').map((r) => r.ok)).toEqual([false, false]);
    const status = runCkpt(['flow', 'status'], { cwd: dir }).stdout;
    expect(status).toMatch(/failed {3}broken \(2 attempts\): it exited 4/);
    expect(status).toMatch(/done {5}flaky \(2 attempts\)/);
    expect(status).toMatch(/pending {2}after/);
  });

  it('plans a missing input as blocked, with its dependents, and draws the graph', () => {
    const dir = tmp();
    writeFanOut(dir, [1, 2]);
    rmSync(join(dir, 'data', '2.txt'));
    const plan = runCkpt(['flow', 'plan'], { cwd: dir });
    expect(plan.stdout).toMatch(/block gen\[k=2\]: cannot run: input data\/2.txt does not exist/);
    expect(plan.stdout).toMatch(/block merge: cannot run: upstream gen\[k=2\] cannot run/);
    expect(plan.stdout).toContain('1 of 3 tasks would run.');
    const run = runCkpt(['flow', 'run'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(tasksRun(dir)).toEqual(['gen[k=1]']);
    const graph = runCkpt(['flow', 'graph'], { cwd: dir });
    expect(graph.stdout).toContain('s0 [label="gen (2 tasks)"];');
    expect(graph.stdout).toContain('s0 -> s1;');
  });

  it('refuses a bad workflow file with exit 2 and no stack', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'ckpt-flow.yaml'), 'version: 1\nsteps:\n  a: { run: x, needs: [b] }\n');
    const result = runCkpt(['flow', 'run'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/step `a`, field `needs\[0\]`: unknown step `b`/);
    expect(result.stderr).not.toMatch(/at .*\.js/);
  });
});

describe('ckpt flow run with executor: slurm, where sbatch refuses', () => {
  it('says why the task failed, blocks its dependents, and leaves no job for a later head to look for', async () => {
    const dir = tmp();
    writeFanOut(dir, [1, 2], 0.05, '    executor: slurm\n    slurm: { partition: nosuch }\n');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // What SLURM's sbatch prints for a partition that does not exist.
    writeFileSync(
      join(bin, 'sbatch'),
      '#!/bin/sh\necho "sbatch: error: invalid partition specified: nosuch" >&2\necho "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2\nexit 1\n',
    );
    chmodSync(join(bin, 'sbatch'), 0o755);
    const env = cleanEnv({ PATH: `${bin}:${process.env.PATH}` });
    const first = runCkpt(['flow', 'run'], { cwd: dir, env });
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(
      /failed {3}gen\[k=1\] \(attempt 1\): sbatch did not take it: sbatch refused the job: sbatch: error: invalid partition specified: nosuch/,
    );
    expect(first.stdout).toMatch(/blocked {2}merge: gen\[k=1\], gen\[k=2\] did not finish/);
    // The next head has no attempt to re-attach to: it submits again (and is refused again).
    const again = runCkpt(['flow', 'run'], { cwd: dir, env });
    expect(again.code).toBe(1);
    expect(again.stdout).not.toContain('attach');
    expect(again.stdout).not.toContain('resubmit');
    expect(again.stdout).toMatch(/failed {3}gen\[k=2\] \(attempt 1\): sbatch did not take it/);
  });
});
