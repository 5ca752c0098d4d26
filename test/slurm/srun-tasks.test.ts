/**
 * A multi-task job step without MPI on two nodes of the local SLURM cluster:
 * `ckpt sbatch -p multi -N 2 --ntasks-per-node=1 -- srun python3 tasks.py`. Each task commits its
 * own part of every multi-rank checkpoint (`ckpt commit`, rank and rank count from SLURM_PROCID /
 * SLURM_NTASKS); the tasks agree on the step by rule (test/fixtures/slurm/tasks.py). Preempted at
 * a random moment, ckpt's checkpoint request reaches both tasks through SLURM, both parts are
 * committed before the stop, and after the requeue every task resumes from that step and ends
 * with the result of an uninterrupted run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';
import {
  describeSlurm,
  jobStatus,
  reportMetrics,
  sh,
  showJob,
  slurmEnv,
  useJobs,
  waitJobEnd,
} from './lab.js';

const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const CLI = join(REPO_ROOT, 'bin', 'ckpt');
const TASKS = join(REPO_ROOT, 'test', 'fixtures', 'slurm', 'tasks.py');
const STEPS = 600;
const TASK_ARGS = ['--steps', String(STEPS), '--every', '100', '--agree', '20', '--step-ms', '20'];

describeSlurm('SLURM: two srun tasks on two nodes, each committing its part', () => {
  const { jobs, workDir } = useJobs();

  /** Each rank's result in an uninterrupted run (the tasks are independent: one bare run each). */
  function reference(): string[] {
    return [0, 1].map((rank) => {
      const dir = workDir();
      const r = spawnSync('python3', [TASKS, ...TASK_ARGS, '--step-ms', '0'], {
        cwd: dir,
        env: { ...process.env, SLURM_PROCID: String(rank), SLURM_NTASKS: '2', CKPT_STORE: '' },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      return readFileSync(join(dir, `result-${rank}.txt`), 'utf8');
    });
  }

  it('preempted at a random moment: both tasks commit their parts of one step, and both resume there', async () => {
    const dir = workDir();
    const store = join(dir, 'store');
    const submitted = spawnSync(
      process.execPath,
      [
        CLI,
        '--store',
        store,
        'sbatch',
        '-p',
        'multi',
        '-N',
        '2',
        '--ntasks-per-node=1',
        '--time',
        '5',
        '-o',
        join(dir, 'out.txt'),
        '--',
        'srun',
        'python3',
        TASKS,
        ...TASK_ARGS,
        '--ckpt',
        process.execPath,
        CLI,
      ],
      { cwd: dir, env: { ...process.env, ...slurmEnv() }, encoding: 'utf8' },
    );
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim();
    jobs.add(id);
    const output = () => (existsSync(join(dir, 'out.txt')) ? readFileSync(join(dir, 'out.txt'), 'utf8') : '');
    const starts = () =>
      existsSync(join(dir, 'starts.txt'))
        ? readFileSync(join(dir, 'starts.txt'), 'utf8')
            .trim()
            .split('\n')
            .map((l) => l.split(' ').map(Number))
        : [];
    await waitFor(() => starts().length === 2 && showJob(id)?.NumNodes === '2', 'both tasks on two nodes', {
      timeoutMs: 60_000,
      explain: () => `${JSON.stringify(showJob(id))}\n${output()}`,
    });
    const wait = 1500 + seeded(SEED)() * 4000;
    await sleep(wait);
    const requeuedAt = Date.now();
    expect(sh('scontrol', ['requeue', id]).code).toBe(0);
    const final = await waitJobEnd(id, 150_000, dir);
    const context = `${output()}\nstarts: ${JSON.stringify(starts())} (requeued ${Math.round(wait)} ms after both started; replay with CKPT_TEST_SEED=${SEED})`;
    expect(final.JobState, context).toBe('COMPLETED');
    expect(final.Restarts, context).toBe('1');
    const want = reference();
    for (const rank of [0, 1])
      expect(readFileSync(join(dir, `result-${rank}.txt`), 'utf8'), context).toBe(want[rank]);
    // The checkpoint of the stop: both parts, committed after the requeue, at a step of the rule;
    // both tasks of the second segment resumed from it. (The journal tells it: the store keeps
    // only the newest checkpoints, and the second segment commits more.)
    const status = jobStatus(dir, store);
    const from = status.segments[1]?.resumeFrom;
    const committed = Date.parse(from?.committed ?? '');
    expect(status.segments[0]?.ranks, context).toBe(2);
    expect(committed, context).toBeGreaterThanOrEqual(requeuedAt - 1000);
    expect((from?.step ?? -1) % 20, context).toBe(0);
    const resumed = starts().slice(2);
    expect(
      resumed.map(([, step]) => step),
      context,
    ).toEqual([from?.step, from?.step]);
    expect(resumed.map(([rank]) => rank).sort(), context).toEqual([0, 1]);
    reportMetrics('srun-tasks-preemption', {
      checkpointStep: from?.step,
      msAfterRequeue: committed - requeuedAt,
      lostSteps: 0,
    });
  }, 240_000);
});
