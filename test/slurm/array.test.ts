/**
 * A job array on the local SLURM cluster, submitted as a new user would: `ckpt sbatch
 * --array=0-2 -- CMD`, no store named. Each task runs in task-<id>/ with its own store there
 * (one store for all would lock out all tasks but one), and writes its files there. One task is
 * preempted (`scontrol requeue A_1`): only that task requeues and resumes from its own
 * checkpoint; all three finish with the result of an uninterrupted run of their own input.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import {
  ckpt,
  describeSlurm,
  diagnose,
  interruptions,
  jobcomp,
  jobcompOffset,
  jobStatus,
  journal,
  lastStep,
  progArgs,
  readProgress,
  readResult,
  referenceResult,
  reportMetrics,
  sh,
  showJob,
  trackStarts,
  useJobs,
  waitJobEnd,
} from './lab.js';

const TASKS = [0, 1, 2];

describeSlurm('SLURM: job array', () => {
  const { jobs, workDir } = useJobs();

  it('gives each task its own store; only the preempted task requeues, all finish correctly', async () => {
    const dir = workDir();
    const prog = (task: number | string) => ({ steps: 150, every: 50, stepMs: 100, seed: `task-${task}` });
    // Each task reads its id from SLURM: its input (seed) differs, its file names do not.
    const command = progArgs(prog('$SLURM_ARRAY_TASK_ID')).join(' ');
    const offset = jobcompOffset();
    const submitted = ckpt(dir, [
      'sbatch',
      '--array=0-2',
      '--time',
      '5',
      '-o',
      join(dir, 'out-%a.txt'),
      '--',
      'bash',
      '-c',
      `exec python3 ${command}`,
    ]);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stderr).toContain(`each task of the array runs in ${join(dir, 'task-%a')}`);
    const arrayId = submitted.stdout.trim();
    jobs.add(arrayId);
    const taskDir = (task: number) => join(dir, `task-${task}`);
    await waitFor(() => TASKS.every((t) => lastStep(taskDir(t)) >= 20), 'all three tasks to pass step 20', {
      timeoutMs: 90_000,
      everyMs: 200,
      explain: () => diagnose(dir),
    });
    const starts = trackStarts(taskDir(1), `${arrayId}_1`);
    let finals: Array<Record<string, string>>;
    try {
      await waitFor(() => lastStep(taskDir(1)) >= 65, 'task 1 to pass step 65', {
        timeoutMs: 60_000,
        everyMs: 100,
        explain: () => diagnose(taskDir(1)),
      });
      const r = sh('scontrol', ['requeue', `${arrayId}_1`]);
      expect(r.code, r.stderr).toBe(0);
      finals = [];
      for (const t of TASKS) finals.push(await waitJobEnd(`${arrayId}_${t}`, 120_000, taskDir(t)));
    } finally {
      starts.stop();
    }

    expect(finals.map((f) => f.JobState)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect(finals.map((f) => f.Restarts)).toEqual(['0', '1', '0']);
    const taskJobIds = TASKS.map((t) => showJob(`${arrayId}_${t}`)!.JobId!);
    expect(taskJobIds.map((id) => jobcomp(offset, id).map((r) => r.JobState))).toEqual([
      ['COMPLETED'],
      ['PENDING', 'COMPLETED'],
      ['COMPLETED'],
    ]);

    // One store per task, none under the literal pattern, none shared; the batch script is kept.
    expect(existsSync(join(dir, 'task-%a'))).toBe(false);
    expect(existsSync(join(dir, '.ckpt'))).toBe(false);
    expect(readdirSync(join(dir, 'ckpt-sbatch')).filter((f) => f.endsWith('.sh'))).toHaveLength(1);
    for (const t of TASKS) {
      const store = join(taskDir(t), '.ckpt');
      expect(readResult(taskDir(t))).toEqual(referenceResult(prog(t)));
      const events = await journal(store);
      for (const start of events.filter((e) => e.type === 'start')) {
        expect((start.writer as { slurm: unknown }).slurm).toMatchObject({
          arrayJobId: arrayId,
          arrayTaskId: String(t),
        });
      }
      const status = jobStatus(dir, store);
      expect(status.state).toBe('finished');
      expect(status.segments.map((s) => s.slurm?.restartCount)).toEqual(t === 1 ? [0, 1] : [0]);
      if (t === 1) {
        expect(events.find((e) => e.type === 'interruption')).toMatchObject({
          kind: 'requeued',
          slurm: { requeueTarget: `${arrayId}_1`, arrayTaskId: '1' },
        });
        const progress = readProgress(taskDir(1));
        const [lost] = interruptions(progress);
        expect(lost?.lostSteps).toBe(0);
        expect(status.segments[1]!.resumeFrom?.step).toBe(lost?.resumedFrom);
        reportMetrics('array-preemption', {
          lostSteps: lost?.lostSteps,
          restartLatencyMs: starts.seen.filter((s) => s.restart > 0).map((s) => s.latencyMs),
        });
      } else {
        expect(events.filter((e) => e.type === 'interruption')).toEqual([]);
      }
    }
  }, 240_000);
});
