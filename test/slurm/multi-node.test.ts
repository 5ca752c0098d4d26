/**
 * A 2-node MPI job on the local SLURM cluster's `multi` partition (three slurmd on this machine):
 * `ckpt sbatch -p multi -N 2 --ntasks-per-node=1 -- mpirun -np 2 --map-by node ./ranks`, mpirun
 * starting one rank on each node through SLURM, each rank committing its part of every checkpoint
 * (examples/mpi/ranks.c). Each case ends with the result of an uninterrupted run with the same two
 * ranks:
 * - at its time limit (moved 45 s ahead at each start; the job sleeps 40 s in all, so it needs two
 *   segments or more at any speed): ckpt's warning asks the ranks through mpirun, checkpoints,
 *   requeues;
 * - preempted (`scontrol requeue`) at a random moment: every rank checkpoints in the grace period;
 * - a node lost (its slurmd and the job's processes there killed): ckpt sees the node not answer,
 *   waits for SLURM instead of restarting, and the job resumes on other nodes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { mpiEnv } from '../helpers/mpi.js';
import { describeNeeds, MPI } from '../helpers/needs.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';
import {
  describeSlurm,
  jobStatus,
  journal as journalOf,
  LAB,
  reportMetrics,
  SLURM_CONF,
  sh,
  showJob,
  slurmEnv,
  slurmTime,
  useJobs,
  waitJobEnd,
} from './lab.js';

const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
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
    const watchStarts = (dir: string) => {
      const seen: number[] = [];
      const timer = setInterval(() => {
        for (let n = starts(dir).length; seen.length < n; ) seen.push(Date.now());
      }, 50);
      return { seen, stop: () => clearInterval(timer) };
    };
    /** From SLURM's StartTime of the last segment (whole seconds) to its program running. */
    const latency = (final: Record<string, string>, seen: readonly number[]) =>
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
      const watch = watchStarts(dir);
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
      const final = await waitJobEnd(id, 10_000, dir).finally(watch.stop);
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
        restartLatencyMs: latency(final, watch.seen),
      });
      expect(
        resumed.every((s) => s > 0),
        context,
      ).toBe(true);
    }, 420_000);
    it('preempted at a random moment: every rank checkpoints in the grace period, the job resumes there', async () => {
      const steps = 1500;
      const { id, dir, store } = submit(steps, 10, ['--time', '5']);
      await waitFor(() => starts(dir).length === 1 && showJob(id)?.NumNodes === '2', 'the job on two nodes', {
        timeoutMs: 60_000,
        explain: () => `${JSON.stringify(showJob(id))}\n${output(dir)}`,
      });
      await sleep(2000 + seeded(SEED)() * 4000);
      const watch = watchStarts(dir);
      const requeuedAt = Date.now();
      expect(sh('scontrol', ['requeue', id]).code).toBe(0);
      const final = await waitJobEnd(id, 120_000, dir).finally(watch.stop);
      const context = `${output(dir)} (replay with CKPT_TEST_SEED=${SEED})`;
      expect(final.JobState, context).toBe('COMPLETED');
      expect(final.Restarts, context).toBe('1');
      expect(readFileSync(join(dir, 'result.txt'), 'utf8'), context).toBe(uninterrupted(steps));
      // The second segment resumed from the checkpoint both ranks wrote after the requeue.
      // (The ranks may checkpoint twice in the grace period: on ckpt's request and on SLURM's SIGTERM.)
      const opened = await Store.open(store);
      const newest = await opened.newestManifest();
      if (!newest) {
        const seqs = await opened.listSeqs();
        const why =
          seqs.length === 0 ? 'none' : String(await opened.readManifest(seqs.at(-1)!).catch((e) => e));
        expect.fail(`no readable newest checkpoint (seqs ${seqs.join(',')}: ${why})\n${context}`);
      }
      const manifest = newest;
      const seq = manifest.seq;
      expect(manifest.ranks).toBe(2);
      expect(Date.parse(manifest.time)).toBeGreaterThanOrEqual(requeuedAt - 1000);
      expect(starts(dir), context).toEqual([0, manifest.step]);
      expect(output(dir), context).toContain(`resuming from checkpoint #${seq} (step ${manifest.step})`);
      reportMetrics('multi-node-preemption', {
        checkpointStep: manifest.step,
        msAfterRequeue: Date.parse(manifest.time) - requeuedAt,
        lostSteps: 0,
        restartLatencyMs: latency(final, watch.seen),
      });
    }, 240_000);

    it('loses a node: ckpt waits for SLURM instead of restarting, the job is requeued onto other nodes and resumes', async () => {
      const steps = 3000;
      const { id, dir, store } = submit(steps, 10, ['--time', '5'], 200);
      // A checkpoint every 200 steps, so that the resume is from one.
      await waitFor(() => starts(dir).length === 1 && showJob(id)?.NumNodes === '2', 'the job on two nodes', {
        timeoutMs: 60_000,
        explain: () => `${JSON.stringify(showJob(id))}\n${output(dir)}`,
      });
      await waitFor(
        async () =>
          existsSync(join(store, 'manifests')) && (await (await Store.open(store)).listSeqs()).length > 0,
        'a first checkpoint',
        {
          timeoutMs: 60_000,
          explain: () => output(dir),
        },
      );
      // The node that is not the batch host (mpirun's) is lost: its slurmd, the job's step there
      // (mpirun's daemon) and everything under it.
      const fields = showJob(id)!;
      const nodes = /^node\[(\d)[-,](\d)\]$/.exec(fields.NodeList ?? '');
      expect(nodes, JSON.stringify(fields)).not.toBeNull();
      const lost = [`node${nodes![1]}`, `node${nodes![2]}`].find((n) => n !== fields.BatchHost)!;
      const stepds = sh('pgrep', ['-f', `^slurmstepd: \\[${id}\\.0\\]`])
        .stdout.split('\n')
        .filter((p) => p.trim() !== '');
      expect(stepds.length, output(dir)).toBeGreaterThan(0);
      // The step's processes: its slurmstepd(s) and everything below them (orted, rank 1).
      const doomed = new Set<string>(stepds);
      for (let grew = true; grew; ) {
        grew = false;
        for (const pid of [...doomed]) {
          for (const child of sh('pgrep', ['-P', pid])
            .stdout.split('\n')
            .filter((p) => p.trim() !== '')) {
            if (!doomed.has(child)) {
              doomed.add(child);
              grew = true;
            }
          }
        }
      }
      const slurmd = Number(readFileSync(join(LAB, `slurmd.${lost}.pid`), 'utf8'));
      const watch = watchStarts(dir);
      const lostAt = Date.now();
      for (const pid of [slurmd, ...doomed].map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      try {
        const final = await waitJobEnd(id, 180_000, dir).finally(watch.stop);
        const context = output(dir);
        expect(final.JobState, context).toBe('COMPLETED');
        expect(final.Restarts, context).toBe('1');
        expect(final.NodeList, context).not.toContain(lost.slice(4));
        // The segment that lost the node ends without a restart of ckpt's own: it waits, and SLURM
        // requeues. (Under load, mpirun's launch in the requeued segment can fail in this one-host
        // lab; ckpt then finds every node answering and restarts the program in place, correctly,
        // so crashes after the requeue are not this test's concern.)
        const lossSegment = context.slice(0, context.indexOf(', restart 1\n'));
        expect(lossSegment, context).toContain('does not answer');
        expect(lossSegment, context).toContain('not a crash of the program');
        expect(lossSegment, context).not.toMatch(/restart \d+\/3/);
        expect(readFileSync(join(dir, 'result.txt'), 'utf8'), context).toBe(uninterrupted(steps));
        const resumed = starts(dir);
        expect(resumed.length, context).toBeGreaterThanOrEqual(2);
        expect(resumed[1], context).toBeGreaterThan(0);
        const events = await journalOf(store);
        expect(
          events.some((e) => e.type === 'allocation-trouble'),
          context,
        ).toBe(true);
        reportMetrics('multi-node-node-failure', {
          resumedFrom: resumed[1],
          requeuedAfterMs: slurmTime(final.StartTime) - lostAt,
          restartLatencyMs: latency(final, watch.seen),
        });
      } finally {
        sh('slurmd', ['-f', SLURM_CONF, '-N', lost]);
        await waitFor(
          () => {
            const state = sh('sinfo', ['-h', '-n', lost, '-o', '%T']).stdout.trim();
            if (/down|drain|fail/i.test(state))
              sh('scontrol', ['update', `NodeName=${lost}`, 'State=RESUME']);
            return /^(idle|mixed|allocated)/.test(state);
          },
          `${lost} to be back`,
          { timeoutMs: 60_000, everyMs: 1000 },
        );
      }
    }, 300_000);
  });
});
