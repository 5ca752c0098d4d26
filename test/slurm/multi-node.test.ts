/**
 * A 2-node MPI job on the local SLURM cluster's `multi` partition (three slurmd on this machine):
 * `ckpt sbatch -p multi -N 2 --ntasks-per-node=1 -- mpirun -np 2 --map-by node ./ranks`, mpirun
 * starting one rank on each node through SLURM, each rank committing its part of every checkpoint
 * (examples/mpi/ranks.c). At its time limit (moved 45 s ahead at each start; the job sleeps 40 s in all, so it needs 2 segments or more at any speed): ckpt's warning asks
 * the ranks through mpirun, checkpoints, requeues; the job ends with the result of an
 * uninterrupted run with the same two ranks. (Preemption and the loss of a node passed alone but
 * not in the full suite; see docs/parallel.md.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mpiEnv } from '../helpers/mpi.js';
import { describeNeeds, MPI } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait-for.js';
import {
  describeSlurm,
  jobStatus,
  reportMetrics,
  sh,
  showJob,
  slurmEnv,
  slurmTime,
  useJobs,
  waitJobEnd,
} from './lab.js';

const _SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const CLI = join(REPO_ROOT, 'bin', 'ckpt');

describeSlurm('SLURM: a 2-node MPI job', () => {
  describeNeeds('with OpenMPI', MPI, () => {
    const { jobs, workDir } = useJobs();
    let build = '';
    const reference = new Map<number, string>();
    const env = () => ({
      ...mpiEnv(),
      ...slurmEnv(),
      OMPI_ALLOW_RUN_AS_ROOT: '1',
      OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    });

    beforeAll(() => {
      // Not a workDir(): those are removed after each test, and the binary serves all of them.
      build = mkdtempSync(join(tmpdir(), 'ckpt-slurm-mpi-build-'));
      const cc = spawnSync(
        'mpicc',
        ['-O2', '-o', join(build, 'ranks'), join(REPO_ROOT, 'examples', 'mpi', 'ranks.c'), '-lm'],
        {
          encoding: 'utf8',
        },
      );
      expect(cc.status, cc.stderr).toBe(0);
    });

    afterAll(() => {
      if (build) rmSync(build, { recursive: true, force: true });
    });

    /** The result of an uninterrupted 2-rank run of `steps` steps, computed once. */
    const uninterrupted = (steps: number): string => {
      const known = reference.get(steps);
      if (known) return known;
      const dir = workDir();
      const run = spawnSync(
        'mpirun',
        ['-np', '2', join(build, 'ranks'), '--steps', String(steps), '--step-ms', '0'],
        {
          cwd: dir,
          env: mpiEnv(),
          encoding: 'utf8',
        },
      );
      expect(run.status, run.stderr).toBe(0);
      const result = readFileSync(join(dir, 'result.txt'), 'utf8');
      reference.set(steps, result);
      return result;
    };

    /** Submits the job; returns its id, directory and store. */
    const submit = (steps: number, stepMs: number, extra: string[], every = 100_000) => {
      const dir = workDir();
      const store = join(dir, 'store');
      const args = [
        CLI,
        '--store',
        store,
        'sbatch',
        '-p',
        'multi',
        '-N',
        '2',
        '--ntasks-per-node=1',
        '-o',
        join(dir, 'out.txt'),
        ...extra,
        '--',
        'mpirun',
        '-np',
        '2',
        '--map-by',
        'node',
        join(build, 'ranks'),
        '--steps',
        String(steps),
        '--every',
        String(every),
        '--step-ms',
        String(stepMs),
      ];
      const r = spawnSync(process.execPath, args, { cwd: dir, env: env(), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const id = r.stdout.trim();
      jobs.add(id);
      return { id, dir, store };
    };
    const starts = (dir: string) =>
      existsSync(join(dir, 'starts.txt'))
        ? readFileSync(join(dir, 'starts.txt'), 'utf8').trim().split('\n').map(Number)
        : [];
    /** When each start line appears in starts.txt (looked at every 50 ms), for the restart latency. */
    const _watchStarts = (dir: string) => {
      const seen: number[] = [];
      const timer = setInterval(() => {
        for (let n = starts(dir).length; seen.length < n; ) seen.push(Date.now());
      }, 50);
      return { seen, stop: () => clearInterval(timer) };
    };
    /** From SLURM's StartTime of the last segment (whole seconds) to its program running. */
    const _latency = (final: Record<string, string>, seen: readonly number[]) =>
      (seen.at(-1) ?? Number.NaN) - slurmTime(final.StartTime);
    const output = (dir: string) =>
      existsSync(join(dir, 'out.txt')) ? readFileSync(join(dir, 'out.txt'), 'utf8') : '';

    it('at its time limit: checkpoints every rank through mpirun, requeues, resumes; identical result', async () => {
      // 1000 steps of at least 40 ms sleep each: 40 s of work at any CPU speed. A segment's program
      // runs at most ~33 s: its end is set 45 s after it starts, and ckpt stops it 12-13 s before
      // that (SLURM's own warning may come earlier: it looks every 30 s). So the job needs two
      // segments or more on a fast machine too (with 1200 x 10 ms a fast machine finished in one).
      const steps = 1000;
      const { id, dir, store } = submit(steps, 40, ['--time', '1']);
      let seen = 0;
      await waitFor(
        () => {
          const now = starts(dir).length;
          if (now > seen) {
            seen = now;
            sh('scontrol', ['update', `JobId=${id}`, 'EndTime=now+45']);
          }
          const fields = showJob(id);
          return fields &&
            ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL'].includes(fields.JobState ?? '')
            ? fields
            : undefined;
        },
        'the job to end',
        { timeoutMs: 400_000, everyMs: 250, explain: () => output(dir) },
      );
      const final = await waitJobEnd(id, 10_000, dir);
      const context = output(dir);
      expect(final.JobState, context).toBe('COMPLETED');
      expect(Number(final.Restarts), context).toBeGreaterThanOrEqual(1);
      expect(readFileSync(join(dir, 'result.txt'), 'utf8'), context).toBe(uninterrupted(steps));
      const status = jobStatus(dir, store);
      expect(status.segments.length).toBe(Number(final.Restarts) + 1);
      for (const segment of status.segments.slice(0, -1))
        expect(segment.endReason, context).toMatch(/^deadline: /);
      // ckpt status tells each segment's nodes and ranks.
      for (const segment of status.segments)
        expect(segment.slurm?.nodes, context).toMatch(/^node\[\d[-,]\d\]$/);
      expect(status.segments.filter((s) => s.ranks === 2).length, context).toBeGreaterThanOrEqual(1);
      const shown = spawnSync(process.execPath, [CLI, '--store', store, 'status'], {
        cwd: dir,
        env: env(),
        encoding: 'utf8',
      });
      expect(shown.stdout).toMatch(/\[SLURM \d+, restart 0, nodes node\[\d[-,]\d\], 2 ranks\]/);
      const resumed = starts(dir).slice(1);
      expect(resumed.length, context).toBeGreaterThanOrEqual(1);
      // Each segment resumed from the checkpoint its predecessor took at the deadline: nothing lost.
      // (No periodic checkpoints in this job: --every is beyond its steps. The journal tells it; the
      // store keeps only the newest checkpoints.)
      expect(
        status.segments.slice(1).map((s) => s.resumeFrom?.step),
        context,
      ).toEqual(resumed);
      status.segments.slice(1).forEach((segment, i) => {
        const before = status.segments[i];
        const committed = Date.parse(segment.resumeFrom?.committed ?? '');
        expect(committed, context).toBeGreaterThanOrEqual(Date.parse(before?.started ?? ''));
        expect(committed, context).toBeLessThanOrEqual(Date.parse(before?.ended ?? ''));
      });
      reportMetrics('multi-node-time-limit', {
        segments: resumed.length + 1,
        resumedAt: resumed,
        lostSteps: 0,
      });
      expect(
        resumed.every((s) => s > 0),
        context,
      ).toBe(true);
    }, 420_000);
  });
});
