/**
 * A real time limit on the local SLURM cluster: a deterministic job needing about three times
 * the time one segment gets runs through `ckpt sbatch --time 1`. When each segment starts, the test
 * moves its end 18 s ahead (`scontrol update EndTime=now+18`: a real limit, only sooner). ckpt
 * gets SLURM's B:USR2 warning or its own deadline watcher fires, asks the program for a
 * checkpoint, requeues the job; after the requeues the job finishes with the same result as an
 * uninterrupted run, and `ckpt status` tells each segment's story.
 */
import { expect, it } from 'vitest';
import {
  describeSlurm,
  interruptions,
  reportMetrics,
  requeueDelays,
  sh,
  stepsSinceCheckpoint,
} from './lab.js';
import { useProgJobs } from './prog-job.js';

describeSlurm('SLURM: time limit', () => {
  const lab = useProgJobs();

  it('a job needing ~3x its time limit finishes through requeues, identical to an uninterrupted run', async () => {
    // 300 steps of 100 ms: 30 s of work; a segment gets at most ~10 s before ckpt stops it.
    const job = lab.submitProg({ prog: { steps: 300, every: 50, stepMs: 100 }, time: '1' });
    const id = job.id;
    const starts = job.trackStarts(() => {
      // Not every update lands (the job may be between segments): the next start retries.
      sh('scontrol', ['update', `JobId=${id}`, 'EndTime=now+18']);
    });
    const final = await job.end(240_000);

    expect(final.JobState).toBe('COMPLETED');
    expect(job.result()).toEqual(job.reference());
    const restarts = Number(final.Restarts);
    expect(restarts).toBeGreaterThanOrEqual(2);

    // SLURM's side: one jobcomp record per segment; only the last one is final.
    expect(job.jobcompStates()).toEqual([...Array(restarts).fill('PENDING'), 'COMPLETED']);

    // ckpt's side: every segment but the last ended by the deadline and was requeued by ckpt.
    const status = job.status();
    expect(status.state).toBe('finished');
    expect(status.segments).toHaveLength(restarts + 1);
    status.segments.forEach((segment, i) => {
      expect(segment.slurm).toEqual({ jobId: id, restartCount: i, nodes: 'node1' });
      if (i < restarts) expect(segment.endReason).toMatch(/^deadline: /);
    });
    expect(status.segments.at(-1)!.exit).toEqual({ code: 0, signal: null });
    const events = await job.journal();
    const requeues = events.filter((e) => e.type === 'requeue');
    expect(requeues).toHaveLength(restarts);
    for (const r of requeues) expect(r).toMatchObject({ cause: 'time-limit', target: id, ok: true });
    const runEnds = events.filter((e) => e.type === 'run-end').map((e) => e.outcome);
    expect(runEnds).toEqual([...Array(restarts).fill('requeued'), 'finished']);

    // Each segment resumed exactly where the previous one's checkpoint left it, and the program
    // was asked for that checkpoint (its CKPT_SIGNAL handler ran) before it was stopped.
    const progress = job.progress();
    const incarnations = progress.filter((e) => e.event === 'start');
    expect(incarnations.map((e) => e.restart)).toEqual(status.segments.map((_, i) => i));
    status.segments.forEach((segment, i) => {
      expect(segment.resumeFrom?.step ?? 0).toBe(incarnations[i]!.step);
    });
    for (const start of incarnations.slice(0, -1)) {
      const mine = progress.filter((e) => e.pid === start.pid);
      expect(mine.some((e) => e.event === 'signal' && e.name === 'SIGUSR2')).toBe(true);
    }
    const lost = interruptions(progress);
    for (const l of lost) expect(l.lostSteps).toBeLessThanOrEqual(1);

    const warnings = events
      .filter((e) => e.type === 'stop')
      .map((e) => (e.reason as { detail: string }).detail);
    reportMetrics('time-limit', {
      segments: restarts + 1,
      stoppedBy: warnings.map((d) => (d.includes('from the scheduler') ? 'B:USR2' : 'watcher')),
      lostSteps: lost.map((l) => l.lostSteps),
      stepsSinceCheckpointAtWarning: stepsSinceCheckpoint(
        progress,
        (e) => e.event === 'signal' && e.name === 'SIGUSR2',
      ),
      restartLatencyMs: starts.filter((s) => s.restart > 0).map((s) => s.latencyMs),
      requeueDelayMs: requeueDelays(events, starts),
    });
  }, 300_000);
});
