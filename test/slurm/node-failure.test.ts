/**
 * Node failure on the local SLURM cluster, with the two-writer window it opens.
 *
 * When a node stops answering, SLURM marks it DOWN after SlurmdTimeout (6 s here, plus ~12-20 s)
 * and requeues its `--requeue` jobs (NODE_FAIL in jobcomp), which start again elsewhere while the
 * old processes on the lost node may still run, unsignalled, and still write to the shared store.
 *
 * On one node "elsewhere" is the same node, and a bare `kill -9 slurmd` never gives that overlap:
 * the requeued job can only start once slurmd is back, and a returning slurmd kills the old job's
 * processes first (through its slurmstepd), before the new incarnation starts. To model the lost
 * node faithfully the test also SIGKILLs the job's slurmstepd: then nothing on the node knows the
 * old processes, exactly as when the node is cut off, and they keep running through the restart.
 *
 * ckpt must then hand the store to the new incarnation: it takes the lease over (its holder is an
 * older incarnation of the same job), the old supervisor sees within 250 ms that it lost the
 * lease and stops its program (`fenced`), and every commit the old copy attempts after the
 * takeover is refused. The job finishes with the uninterrupted run's result.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { isAlive } from '../helpers/procfs.js';
import {
  describeSlurm,
  interruptions,
  journal,
  LAB,
  lastStep,
  nodeState,
  readProgress,
  reportMetrics,
  SLURM_CONF,
  sh,
  showJob,
} from './lab.js';
import { useProgJobs } from './prog-job.js';

const SLURMD_PID_FILE = join(LAB, 'slurmd.node1.pid');

function slurmdPid(): number | undefined {
  const r = sh('cat', [SLURMD_PID_FILE]);
  const pid = Number(r.stdout.trim());
  return r.code === 0 && pid > 0 && isAlive(pid) ? pid : undefined;
}

function startSlurmd(): void {
  if (slurmdPid() === undefined) sh('slurmd', ['-f', SLURM_CONF, '-N', 'node1']);
}

describeSlurm('SLURM: node failure', () => {
  const lab = useProgJobs();

  it('the requeued run takes the store over and fences the old copy that still runs', async () => {
    // --keep 1000: no pruning, so every manifest is there to check who wrote it.
    const job = lab.submitProg({
      prog: { steps: 500, every: 20, stepMs: 100 },
      time: '5',
      sbatch: ['--keep', '1000'],
    });
    const { dir, store, id } = job;
    const starts = job.trackStarts();
    const orphans: number[] = [];
    try {
      await job.waitStep(40);
      const [oldCkpt] = (await journal(store)).filter((e) => e.type === 'start');
      const oldCkptPid = (oldCkpt!.writer as { pid: number }).pid;
      const oldProgPid = readProgress(dir).find((e) => e.event === 'start')!.pid;
      orphans.push(oldCkptPid, oldProgPid);

      // The node is lost: its slurmd and the job's slurmstepd die; the job's processes live on.
      const stepds = sh('pgrep', ['-f', `^slurmstepd: \\[${id}\\.`])
        .stdout.split('\n')
        .filter((p) => p.trim() !== '');
      expect(stepds.length).toBeGreaterThan(0);
      const daemon = slurmdPid();
      expect(daemon).toBeDefined();
      const failedAt = Date.now();
      const stepAtFailure = lastStep(dir);
      for (const pid of [daemon!, ...stepds.map(Number)]) process.kill(pid, 'SIGKILL');

      // SLURM declares the node DOWN and requeues the job; the old copy keeps working meanwhile.
      const requeued = await job.wait(
        () => {
          const job = showJob(id);
          return job?.Restarts === '1' ? job : undefined;
        },
        'SLURM to requeue the job after the node failure',
        { timeoutMs: 60_000, everyMs: 500 },
      );
      const requeuedAt = Date.now();
      expect(requeued.JobState).toMatch(/PENDING|REQUEUED/);
      expect(nodeState()).toMatch(/down/);
      expect(isAlive(oldCkptPid) && isAlive(oldProgPid)).toBe(true);
      expect(lastStep(dir)).toBeGreaterThan(stepAtFailure + 50);

      // The node comes back; the job starts again there while the old copy still runs.
      startSlurmd();
      await job.wait(
        () => readProgress(dir).some((e) => e.event === 'start' && e.restart === 1),
        'the new incarnation to start',
        { timeoutMs: 60_000, everyMs: 100 },
      );
      const takeover = await job.wait(
        async () => (await journal(store)).find((e) => e.type === 'lease-takeover'),
        'the lease takeover',
        { timeoutMs: 30_000, everyMs: 100 },
      );
      await job.wait(() => !isAlive(oldCkptPid), 'the old supervisor to exit', {
        timeoutMs: 30_000,
        everyMs: 50,
      });
      const oldGoneAt = Date.now();
      await job.wait(() => !isAlive(oldProgPid), 'the old program to exit', {
        timeoutMs: 30_000,
        everyMs: 50,
      });
      const final = await job.end(120_000);

      expect(final).toMatchObject({ JobState: 'COMPLETED', Restarts: '1' });
      expect(job.jobcompStates()).toEqual(['NODE_FAIL', 'COMPLETED']);
      expect(job.result()).toEqual(job.reference());

      const events = await job.journal();
      const takeoverTime = Date.parse(takeover.time);
      expect(takeover).toMatchObject({
        from: { pid: oldCkptPid, slurm: { jobId: id } },
        by: { slurm: { jobId: id, restartCount: 1 } },
      });
      expect(events.find((e) => e.type === 'interruption')).toMatchObject({ kind: 'node-failure' });
      // The old supervisor noticed it lost the lease and stopped its program: `fenced`.
      const fenced = events.find(
        (e) => e.type === 'stop' && (e.reason as { kind: string }).kind === 'fenced',
      );
      expect(fenced).toMatchObject({ pid: oldCkptPid });
      expect(events.filter((e) => e.type === 'run-end').map((e) => e.outcome)).toEqual([
        'fenced',
        'finished',
      ]);

      // No two writers: every checkpoint committed after the takeover is the new incarnation's,
      // and each commit the old copy attempted after it was refused.
      const progress = job.progress();
      const newCommitters = new Set(
        progress
          .filter((e) => e.restart === 1 && (e.event === 'commit' || e.event === 'sigcommit'))
          .map((e) => e.commitPid),
      );
      const opened = await Store.open(store);
      const manifests = await Promise.all((await opened.listSeqs()).map((seq) => opened.readManifest(seq)));
      const after = manifests.filter((m) => Date.parse(m.time) > takeoverTime);
      expect(after.length).toBeGreaterThan(0);
      for (const m of after) {
        expect(m.writer.slurm).toMatchObject({ jobId: id, restartCount: 1 });
        expect(newCommitters.has(m.writer.pid)).toBe(true);
      }
      const before = manifests.filter((m) => Date.parse(m.time) <= takeoverTime);
      for (const m of before) expect(m.writer.slurm?.restartCount ?? 0).toBe(0);
      const oldAttempts = progress.filter(
        (e) => e.pid === oldProgPid && e.t * 1000 > takeoverTime && /commit/.test(e.event),
      );
      expect(oldAttempts.length).toBeGreaterThan(0);
      // The old copy logs a commit when its `ckpt commit` has exited, so one that landed just
      // before the takeover may be logged just after it: that one must not be among the
      // checkpoints committed after the takeover (checked by its writer pid); the others failed.
      expect(oldAttempts.some((a) => a.event === 'commit-failed')).toBe(true);
      for (const a of oldAttempts) {
        if (a.event === 'commit-failed') continue;
        expect(
          after.some((m) => m.writer.pid === a.commitPid),
          `the old copy's commit by pid ${a.commitPid} landed after the takeover`,
        ).toBe(false);
      }

      // ckpt status: the old segment ended by the node failure and the fencing, the new one finished.
      const status = job.status();
      expect(status.state).toBe('finished');
      expect(status.segments).toHaveLength(2);
      expect(status.segments[0]).toMatchObject({ slurm: { jobId: id, restartCount: 0 } });
      expect(status.segments[0]!.endReason).toMatch(/node failure.*fenced/);
      expect(status.segments[1]).toMatchObject({
        slurm: { jobId: id, restartCount: 1 },
        exit: { code: 0, signal: null },
      });
      expect(status.segments[1]!.endReason).toBeUndefined();

      const [lost] = interruptions(progress);
      const newStart = starts.find((s) => s.restart === 1);
      reportMetrics('node-failure', {
        stepAtFailure,
        requeuedAfterMs: requeuedAt - failedAt,
        orphanStepsAfterFailure: (lost?.reached ?? 0) - stepAtFailure,
        lostSteps: lost?.lostSteps,
        twoWriterWindowMs: oldGoneAt - takeoverTime,
        refusedOldCommits: oldAttempts.length,
        restartLatencyMs: newStart?.latencyMs,
      });
    } finally {
      startSlurmd();
      for (const pid of orphans) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 300_000);
});
