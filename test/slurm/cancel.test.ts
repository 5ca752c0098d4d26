/**
 * A user's `scancel J` on the local SLURM cluster: the job ends CANCELLED and stays so (ckpt
 * classifies the SIGTERM as a cancel: Restarts unchanged, the job COMPLETING/CANCELLED, so it
 * does not requeue), and the checkpoint store is intact: `ckpt verify` passes and `ckpt ls` lists
 * the checkpoint taken at the stop, so a resubmission would resume from it.
 */
import { expect, it } from 'vitest';
import {
  ckpt,
  ckptJson,
  describeSlurm,
  lastStep,
  reportMetrics,
  sh,
  showJob,
  stepsSinceCheckpoint,
} from './lab.js';
import { useProgJobs } from './prog-job.js';

interface LsJson {
  checkpoints: Array<{ seq: number; step: number; ok: boolean }>;
}

describeSlurm('SLURM: scancel', () => {
  const lab = useProgJobs();

  it('ends the job without a requeue and leaves its last checkpoint intact', async () => {
    const job = lab.submitProg({ prog: { steps: 2000, every: 20, stepMs: 100 }, time: '5' });
    const { dir, store, id } = job;
    await job.waitStep(30);
    const cancelledAt = Date.now();
    expect(sh('scancel', [id]).code).toBe(0);
    const final = await job.end(60_000);
    expect(final.JobState).toBe('CANCELLED');
    // Not requeued: still CANCELLED after SLURM's requeue delay (cred_expire + 1 s) and a scheduler pass.
    await new Promise((r) => setTimeout(r, 9000));
    expect(showJob(id)).toMatchObject({ JobState: 'CANCELLED', Restarts: '0' });
    expect(job.jobcompStates()).toEqual(['CANCELLED']);

    const events = await job.journal();
    expect(events.find((e) => e.type === 'interruption')).toMatchObject({ kind: 'cancelled' });
    expect(events.filter((e) => e.type === 'requeue')).toEqual([]);
    const end = events.find((e) => e.type === 'run-end');
    expect(end).toMatchObject({ outcome: 'interrupted' });
    expect(String(end?.message)).toContain('cancelled by the user: not requeued, checkpoint kept');
    expect(job.status().state).toBe('interrupted');

    // The store is intact and holds the checkpoint committed at the stop: the program's last commit.
    const verify = ckpt(dir, ['--store', store, 'verify']);
    expect(verify.code, verify.stderr).toBe(0);
    const progress = job.progress();
    const commits = progress.filter((e) => e.event === 'commit' || e.event === 'sigcommit');
    const lastCommit = commits.at(-1)!;
    expect(lastCommit.t * 1000).toBeGreaterThanOrEqual(cancelledAt);
    const ls = ckptJson<LsJson>(dir, store, ['ls']);
    const newest = ls.checkpoints.reduce((a, b) => (b.seq > a.seq ? b : a));
    expect(newest).toMatchObject({ step: lastCommit.step, ok: true });
    const why = ckptJson<{ resumeFrom: { step: number } | null }>(dir, store, ['why']);
    expect(why.resumeFrom?.step).toBe(lastCommit.step);

    reportMetrics('cancel', {
      lostSteps: lastStep(dir) - (lastCommit.step ?? 0),
      stepsSinceCheckpointAtTerm: stepsSinceCheckpoint(
        progress,
        (e) => e.event === 'signal' && e.name === 'SIGTERM',
      ),
      checkpointMsAfterScancel: Math.round(lastCommit.t * 1000 - cancelledAt),
    });
  }, 180_000);
});
