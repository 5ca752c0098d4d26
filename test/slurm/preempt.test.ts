/**
 * Preemption by requeue on the local SLURM cluster: `scontrol requeue J` from outside while the job
 * runs. SLURM sends SIGTERM to the batch shell (ckpt) and to every process of the job at once,
 * SIGKILL KillWait (10 s here) later. ckpt classifies the SIGTERM from the job's record (Restarts
 * already raised: a requeue), journals it, asks the program for a checkpoint within the grace
 * that is left and leaves the requeue to SLURM; the next segment resumes from exactly that
 * checkpoint and the job finishes with the uninterrupted run's result.
 */
import { expect, it } from 'vitest';
import {
  describeSlurm,
  interruptions,
  KILL_WAIT_MS,
  reportMetrics,
  requeueDelays,
  stepsSinceCheckpoint,
} from './lab.js';
import { useProgJobs } from './prog-job.js';

describeSlurm('SLURM: preemption (scontrol requeue)', () => {
  const lab = useProgJobs();

  it('checkpoints in the grace period, is requeued by SLURM and resumes from that checkpoint', async () => {
    const job = lab.submitProg({ prog: { steps: 200, every: 50, stepMs: 100 }, time: '5' });
    const starts = job.trackStarts();
    // Between two periodic checkpoints (every 50 steps), so a checkpoint at the stop matters.
    await job.waitStep(65);
    const requeuedAt = job.requeue();
    const final = await job.end(120_000);

    expect(final.JobState).toBe('COMPLETED');
    expect(final.Restarts).toBe('1');
    expect(job.jobcompStates()).toEqual(['PENDING', 'COMPLETED']);
    expect(job.result()).toEqual(job.reference());

    const events = await job.journal();
    // Classified from the job's record: SLURM had already raised Restarts above this run's count.
    const interruption = events.find((e) => e.type === 'interruption');
    expect(interruption).toMatchObject({ kind: 'requeued', slurm: { jobId: job.id, restartCount: 0 } });
    const stop = events.find((e) => e.type === 'stop')!;
    expect(stop.reason).toMatchObject({
      kind: 'signal',
      signal: 'SIGTERM',
      meaning: 'preempted or requeued by SLURM',
    });
    // SLURM requeues: ckpt must not requeue a second time.
    expect(events.filter((e) => e.type === 'requeue')).toEqual([]);
    expect(events.filter((e) => e.type === 'run-end').map((e) => e.outcome)).toEqual([
      'requeued',
      'finished',
    ]);

    // The checkpoint at the stop: committed after the requeue, within KillWait, by the first
    // incarnation; the second one resumed from exactly it.
    const progress = job.progress();
    const [first, second] = progress.filter((e) => e.event === 'start');
    expect(second?.restart).toBe(1);
    const stopCommits = progress.filter(
      (e) =>
        e.pid === first!.pid && (e.event === 'commit' || e.event === 'sigcommit') && e.t * 1000 >= requeuedAt,
    );
    expect(stopCommits.length).toBeGreaterThan(0);
    const stopCommit = stopCommits.at(-1)!;
    expect(stopCommit.t * 1000 - requeuedAt).toBeLessThan(KILL_WAIT_MS);
    expect(second!.step).toBe(stopCommit.step);
    const status = job.status();
    expect(status.state).toBe('finished');
    expect(status.segments.map((s) => s.slurm)).toEqual([
      { jobId: job.id, restartCount: 0, nodes: 'node1' },
      { jobId: job.id, restartCount: 1, nodes: 'node1' },
    ]);
    expect(status.segments[0]!.endReason).toContain('preempted or requeued by SLURM');
    expect(status.segments[1]!.resumeFrom?.step).toBe(stopCommit.step);

    const [lost] = interruptions(progress);
    reportMetrics('preemption', {
      requeuedAtStep: progress
        .filter((e) => e.pid === first!.pid && e.event === 'step' && e.t * 1000 <= requeuedAt)
        .at(-1)?.step,
      checkpointAtStop: {
        step: stopCommit.step,
        msAfterRequeue: Math.round(stopCommit.t * 1000 - requeuedAt),
      },
      lostSteps: lost?.lostSteps,
      stepsSinceCheckpointAtTerm: stepsSinceCheckpoint(
        progress,
        (e) => e.event === 'signal' && e.name === 'SIGTERM',
      ),
      signalsSeen: progress.filter((e) => e.pid === first!.pid && e.event === 'signal').map((e) => e.name),
      restartLatencyMs: starts.filter((s) => s.restart > 0).map((s) => s.latencyMs),
      requeueDelayMs: requeueDelays(events, starts),
    });
    expect(lost?.lostSteps).toBe(0);
  }, 240_000);
});
