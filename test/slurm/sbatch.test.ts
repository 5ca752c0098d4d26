/**
 * `ckpt sbatch` against the local SLURM cluster, without waiting for long jobs: the script it
 * writes (exec of this ckpt, --requeue, --open-mode=append, the B: warning with its lead),
 * sbatch options passed through to a held job, and a `--no-requeue` job whose requeue fails:
 * ckpt must say so instead of claiming it requeued.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { shellQuote } from '../../src/slurm/index.js';
import { CLI_BIN } from '../helpers/repo.js';
import { ckpt, describeSlurm, PROG, progArgs, sh, showJob } from './lab.js';
import { useProgJobs } from './prog-job.js';

describeSlurm('SLURM: ckpt sbatch', () => {
  const lab = useProgJobs();
  const { jobs, workDir } = lab;

  it('--dry-run prints a script that execs this ckpt with requeue, appended output and the warning', () => {
    const dir = workDir();
    const store = join(dir, 'store');
    const r = ckpt(dir, [
      '--store',
      store,
      'sbatch',
      '--time',
      '3',
      '--dry-run',
      '--',
      'python3',
      PROG,
      '--seed',
      'a b',
    ]);
    expect(r.code, r.stderr).toBe(0);
    // --time 3: the warning's lead (default: 70 s) is capped so that, with SLURM's 30 s of
    // early jitter, it never comes in the first half of the limit: 180/2 - 30 = 60 s.
    expect(r.stdout.split('\n').filter((l) => !l.startsWith('# '))).toEqual([
      '#!/bin/bash',
      '#SBATCH --requeue',
      '#SBATCH --open-mode=append',
      '#SBATCH --signal=B:USR2@60',
      `exec ${[process.execPath, CLI_BIN, '--store', store, 'run', '--', 'python3', PROG, '--seed', 'a b'].map(shellQuote).join(' ')}`,
      '',
    ]);
    expect(r.stdout).toContain("'a b'");
    // A dry run creates nothing.
    expect(existsSync(store)).toBe(false);

    // ckpt run options go into the script, sbatch options stay with sbatch; --lead and
    // --warning-signal shape the warning; a short limit gets a lead of at least 1 s.
    const json = ckpt(dir, [
      'sbatch',
      '--store',
      store,
      '--time=2:00:00',
      '-p',
      'debug',
      '--lead',
      '45s',
      '--warning-signal',
      'USR1',
      '--max-requeues',
      '5',
      '--every',
      '10m',
      '--dry-run',
      '--json',
      '--',
      'true',
    ]);
    expect(json.code, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { jobId: null; script: string; sbatchArgs: string[] };
    expect(parsed.sbatchArgs).toEqual(['--time=2:00:00', '-p', 'debug']);
    expect(parsed.script).toContain('#SBATCH --signal=B:USR1@45\n');
    expect(parsed.script).toContain(
      `--store ${store} run --warning-signal USR1 --max-requeues 5 --every 10m -- true\n`,
    );
    const short = ckpt(dir, ['--store', store, 'sbatch', '-t', '1', '--dry-run', '--', 'true']);
    expect(short.stdout).toContain('#SBATCH --signal=B:USR2@1\n');

    // A per-task store pattern is kept for `ckpt run` to expand in each task.
    const templated = ckpt(dir, [
      '--store',
      join(dir, 'runs', 'store-%a'),
      'sbatch',
      '--array=0-3',
      '--dry-run',
      '--',
      'true',
    ]);
    expect(templated.stdout).toContain(`--store ${join(dir, 'runs', 'store-%a')} run -- true`);
  });

  it('passes sbatch options through (a held job shows them) and submits exactly the script it keeps', async () => {
    const dir = workDir();
    const store = join(dir, 'store');
    const r = ckpt(dir, [
      '--store',
      store,
      'sbatch',
      '--hold',
      '--time',
      '0:03:00',
      '-p',
      'debug',
      '-J',
      'ckpt-hold-test',
      '-o',
      join(dir, 'out.txt'),
      '--json',
      '--',
      'python3',
      ...progArgs({ steps: 10 }),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { jobId, script } = JSON.parse(r.stdout) as { jobId: string; script: string };
    jobs.add(jobId);
    expect(script.startsWith(join(store, 'sbatch'))).toBe(true);
    expect(showJob(jobId)).toMatchObject({
      JobState: 'PENDING',
      Reason: 'JobHeldUser',
      TimeLimit: '00:03:00',
      Partition: 'debug',
      JobName: 'ckpt-hold-test',
      Requeue: '1',
      WorkDir: dir,
      StdOut: join(dir, 'out.txt'),
    });
    const submitted = sh('scontrol', ['write', 'batch_script', jobId, '-']);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toBe(readFileSync(script, 'utf8'));
    expect(submitted.stdout).toContain('#SBATCH --signal=B:USR2@60\n');
  });

  it('a --no-requeue job: when the requeue fails ckpt says so and ends resumable, not "requeued"', async () => {
    const job = lab.submitProg({ prog: { steps: 600, every: 50 }, time: '5', sbatch: ['--no-requeue'] });
    const { dir, id } = job;
    expect(showJob(id)?.Requeue).toBe('0');
    await job.waitStep(10);
    // What SLURM sends at --signal=B:USR2@N: the time-limit warning, to the batch shell only.
    expect(sh('scancel', ['--batch', '--signal=USR2', id]).code).toBe(0);
    const final = await job.end(60_000);
    expect(final).toMatchObject({ JobState: 'FAILED', ExitCode: '75:0', Restarts: '0' });
    expect(job.jobcompStates()).toEqual(['FAILED']);

    const events = await job.journal();
    const requeue = events.find((e) => e.type === 'requeue');
    expect(requeue).toMatchObject({ cause: 'time-limit', target: id, ok: false });
    expect(String(requeue?.error)).toMatch(/disabled/i);
    const end = events.find((e) => e.type === 'run-end');
    expect(end).toMatchObject({ outcome: 'interrupted' });
    expect(String(end?.message)).toMatch(/scontrol requeue failed .*disabled/i);
    const out = readFileSync(join(dir, 'out.txt'), 'utf8');
    expect(out).toMatch(/scontrol requeue \d+ failed/);
    expect(out).not.toMatch(/checkpointed and requeued/);
    expect(job.status().state).toBe('interrupted');
    // The checkpoint asked for at the warning is there to resume from by hand.
    const progress = job.progress();
    expect(progress.some((e) => e.event === 'sigcommit')).toBe(true);
  });
});
