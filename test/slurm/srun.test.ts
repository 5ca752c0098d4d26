/**
 * A program under `srun` on the local SLURM cluster: `ckpt sbatch -- srun python3 prog.py`. The
 * program is a task of a job step, outside ckpt's process group, and srun answers its own SIGTERM
 * by SIGKILLing its tasks: a checkpoint request must reach the task itself, through SLURM
 * (`scancel --signal` to the steps; srun also forwards SIGUSR2), before ckpt stops srun.
 *
 * Segment 1 is preempted (`scontrol requeue`), segment 2 runs into its (shortened) time limit,
 * segment 3 finishes. At both stops the task's checkpoint signal handler runs and commits before
 * the stop, and the next segment resumes from exactly that checkpoint.
 */
import { expect, it } from 'vitest';
import { describeSlurm, interruptions, KILL_WAIT_MS, type ProgressEvent, reportMetrics, sh } from './lab.js';
import { useProgJobs } from './prog-job.js';

const isCommit = (e: ProgressEvent): boolean => e.event === 'commit' || e.event === 'sigcommit';

describeSlurm('SLURM: a program under srun', () => {
  const lab = useProgJobs();

  it('gets its checkpoint signal and commits before the stop, on a requeue and at the deadline', async () => {
    const job = lab.submitProg({
      prog: { steps: 250, every: 50, stepMs: 100 },
      time: '1',
      launcher: ['srun'],
    });
    const starts = job.trackStarts((e) => {
      // The second segment runs into a real (shortened) time limit.
      if (e.restart === 1) sh('scontrol', ['update', `JobId=${job.id}`, 'EndTime=now+18']);
    });
    await job.waitStep(65);
    const requeuedAt = job.requeue();
    const final = await job.end(180_000);

    expect(final).toMatchObject({ JobState: 'COMPLETED', Restarts: '2' });
    expect(job.jobcompStates()).toEqual(['PENDING', 'PENDING', 'COMPLETED']);
    expect(job.result()).toEqual(job.reference());

    const events = await job.journal();
    const stops = events.filter((e) => e.type === 'stop');
    expect(stops.map((e) => (e.reason as { kind: string }).kind)).toEqual(['signal', 'deadline']);
    expect(events.find((e) => e.type === 'interruption')).toMatchObject({ kind: 'requeued' });
    const requests = events.filter((e) => e.type === 'checkpoint-requested' && e.reason === 'stop');
    expect(requests).toHaveLength(2);
    for (const r of requests) expect(r.handledBy).toBeGreaterThanOrEqual(1);

    const progress = job.progress();
    const incarnations = progress.filter((e) => e.event === 'start');
    expect(incarnations.map((e) => e.restart)).toEqual([0, 1, 2]);
    const status = job.status();
    expect(status.segments).toHaveLength(3);
    expect(status.segments[0]!.endReason).toContain('preempted or requeued by SLURM');
    expect(status.segments[1]!.endReason).toMatch(/^deadline: /);

    // Requeue: SLURM's SIGTERM reaches the task directly and srun's does not kill it first; it
    // commits within KillWait and the next segment resumes from that commit.
    const first = progress.filter((e) => e.pid === incarnations[0]!.pid);
    const firstStopCommit = first.filter((e) => isCommit(e) && e.t * 1000 >= requeuedAt).at(-1);
    expect(firstStopCommit).toBeDefined();
    expect(firstStopCommit!.t * 1000 - requeuedAt).toBeLessThan(KILL_WAIT_MS);
    expect(incarnations[1]!.step).toBe(firstStopCommit!.step);

    // Deadline: nothing but ckpt's checkpoint request reaches the task: its CKPT_SIGNAL handler
    // runs after the stop, it commits (`sigcommit`), and only then is srun stopped.
    const deadlineStop = Date.parse(stops[1]!.time);
    const second = progress.filter((e) => e.pid === incarnations[1]!.pid);
    const signal = second.find((e) => e.event === 'signal' && e.name === 'SIGUSR2');
    expect(signal).toBeDefined();
    expect(signal!.t * 1000).toBeGreaterThanOrEqual(deadlineStop - 50);
    const sigcommit = second.find((e) => e.event === 'sigcommit' && e.t >= signal!.t);
    expect(sigcommit).toBeDefined();
    expect(second.some((e) => e.event === 'signal' && e.name === 'SIGTERM' && e.t < sigcommit!.t)).toBe(
      false,
    );
    expect(incarnations[2]!.step).toBe(second.filter(isCommit).at(-1)!.step);

    const lost = interruptions(progress);
    reportMetrics('srun', {
      requeue: {
        signals: first.filter((e) => e.event === 'signal').map((e) => e.name),
        checkpointMsAfterRequeue: Math.round(firstStopCommit!.t * 1000 - requeuedAt),
        lostSteps: lost[0]?.lostSteps,
      },
      deadline: {
        signals: second.filter((e) => e.event === 'signal').map((e) => e.name),
        signalMsAfterStop: Math.round(signal!.t * 1000 - deadlineStop),
        taskSawTerm: second.some((e) => e.event === 'term'),
        lostSteps: lost[1]?.lostSteps,
      },
      restartLatencyMs: starts.filter((s) => s.restart > 0).map((s) => s.latencyMs),
    });
  }, 300_000);
});
