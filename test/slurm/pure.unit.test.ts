import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { classifyTermination } from '../../src/slurm/classify.js';
import { DEFAULT_CHECKPOINT_MS, leadTimeMs, measuredCheckpointMs } from '../../src/slurm/deadline.js';
import { endTimeOf, expandJobPattern, parseJobRecord, slurmJobFromEnv } from '../../src/slurm/job.js';
import {
  buildBatchScript,
  chooseLeadSeconds,
  parseSlurmTime,
  shellQuote,
} from '../../src/slurm/sbatch-script.js';
import { parseSbatchOutput, submitBatch } from '../../src/slurm/submit-batch.js';
import type { JournalEvent } from '../../src/store/index.js';
import { slurmFromEnv } from '../../src/store/writer-info.js';

// A real `scontrol show job -o` line (SLURM 22.05), shortened to the fields ckpt reads.
const RUNNING =
  'JobId=88123 JobName=sim UserId=alice(1000) JobState=RUNNING Reason=None Restarts=0 ' +
  'RunTime=00:04:10 TimeLimit=00:10:00 StartTime=2026-12-02T11:00:00 EndTime=2026-12-02T11:10:00 ' +
  'BatchHost=node07 Command=/home/alice/run.sh --flag value';

describe('parseJobRecord', () => {
  it('reads Key=Value fields of a real line', () => {
    const fields = parseJobRecord(RUNNING);
    expect(fields.JobId).toBe('88123');
    expect(fields.JobState).toBe('RUNNING');
    expect(fields.UserId).toBe('alice(1000)');
    expect(fields.BatchHost).toBe('node07');
    expect(fields.Command).toBe('/home/alice/run.sh');
  });

  it('gives no fields for an empty or garbage line', () => {
    expect(parseJobRecord('')).toEqual({});
    expect(parseJobRecord('slurm_load_jobs error: Invalid job id specified')).toEqual({});
  });
});

describe('endTimeOf', () => {
  it('reads the end time as local time', () => {
    expect(endTimeOf(parseJobRecord(RUNNING))).toBe(new Date(2026, 11, 2, 11, 10, 0).getTime());
  });

  it('is undefined when unknown, unlimited or unparseable', () => {
    expect(endTimeOf({ EndTime: 'Unknown' })).toBeUndefined();
    expect(endTimeOf({ EndTime: '2026-12-02T11:10:00', TimeLimit: 'UNLIMITED' })).toBeUndefined();
    expect(endTimeOf({ EndTime: 'soon' })).toBeUndefined();
    expect(endTimeOf({})).toBeUndefined();
  });
});

describe('classifyTermination', () => {
  const line = (extra: string): Record<string, string> => parseJobRecord(`${RUNNING} ${extra}`);

  it('sees a time limit', () => {
    expect(classifyTermination(line('Reason=TimeLimit'), 0)).toBe('time-limit');
    expect(classifyTermination(line('JobState=TIMEOUT'), 0)).toBe('time-limit');
  });

  it('sees a requeue or preemption', () => {
    expect(classifyTermination(line('JobState=PREEMPTED'), 0)).toBe('requeued');
    expect(classifyTermination(line('JobState=REQUEUED'), 0)).toBe('requeued');
    expect(classifyTermination(line('Restarts=2'), 1)).toBe('requeued');
    expect(classifyTermination(line('EndTime=Unknown'), 0)).toBe('requeued');
  });

  it('sees a user scancel', () => {
    expect(classifyTermination(line('JobState=COMPLETING'), 0)).toBe('cancelled');
    expect(classifyTermination(line('JobState=CANCELLED Restarts=1'), 1)).toBe('cancelled');
  });

  it('is unknown without a record or with nothing telling', () => {
    expect(classifyTermination(undefined, 0)).toBe('unknown');
    expect(classifyTermination(parseJobRecord(RUNNING), 0)).toBe('unknown');
    expect(classifyTermination({}, 0)).toBe('unknown');
  });
});

describe('slurmJobFromEnv', () => {
  it('is undefined outside SLURM', () => {
    expect(slurmJobFromEnv({})).toBeUndefined();
    expect(slurmJobFromEnv({ SLURM_JOB_ID: '' })).toBeUndefined();
  });

  it('reads an array task and its requeue target', () => {
    expect(
      slurmJobFromEnv({
        SLURM_JOB_ID: '501',
        SLURM_ARRAY_JOB_ID: '500',
        SLURM_ARRAY_TASK_ID: '1',
        SLURM_RESTART_COUNT: '3',
      }),
    ).toEqual({ jobId: '501', arrayJobId: '500', arrayTaskId: '1', restartCount: 3, requeueTarget: '500_1' });
  });

  it('falls back to SLURM_JOBID, the older name SLURM still sets, also when SLURM_JOB_ID is empty', () => {
    expect(slurmJobFromEnv({ SLURM_JOBID: '7' })).toMatchObject({ jobId: '7', requeueTarget: '7' });
    expect(slurmJobFromEnv({ SLURM_JOB_ID: '', SLURM_JOBID: '7' })?.jobId).toBe('7');
    expect(slurmJobFromEnv({ SLURM_JOB_ID: '8', SLURM_JOBID: '7' })?.jobId).toBe('8');
  });

  it('reads an unset restart count as 0 (the first run) and a bad one as unknown, not 0', () => {
    expect(slurmJobFromEnv({ SLURM_JOB_ID: '7' })?.restartCount).toBe(0);
    expect(slurmJobFromEnv({ SLURM_JOB_ID: '7', SLURM_RESTART_COUNT: '' })?.restartCount).toBe(0);
    for (const bad of ['x', '-1', '1.5', '0x10', '1e3', ' 2', '99999999999999999999']) {
      expect(slurmJobFromEnv({ SLURM_JOB_ID: '7', SLURM_RESTART_COUNT: bad })?.restartCount).toBeUndefined();
    }
  });
});

describe('one parser: slurmJobFromEnv and the writer record agree', () => {
  const envs: NodeJS.ProcessEnv[] = [
    {},
    { SLURM_JOB_ID: '' },
    { SLURM_JOBID: '7' },
    { SLURM_JOB_ID: '', SLURM_JOBID: '7', SLURM_RESTART_COUNT: '2' },
    { SLURM_JOB_ID: '501', SLURM_ARRAY_JOB_ID: '500', SLURM_ARRAY_TASK_ID: '1', SLURM_RESTART_COUNT: '3' },
    { SLURM_JOB_ID: '9', SLURM_RESTART_COUNT: 'x' },
    { SLURM_JOB_ID: '9', SLURM_RESTART_COUNT: '0' },
  ];

  it('gives the same job, array task and restart count (a missing count reads as 0)', () => {
    for (const env of envs) {
      const job = slurmJobFromEnv(env);
      const info = slurmFromEnv(env);
      expect(info?.jobId).toBe(job?.jobId);
      expect(info?.arrayJobId).toBe(job?.arrayJobId);
      expect(info?.arrayTaskId).toBe(job?.arrayTaskId);
      if (job?.restartCount === undefined) expect(info?.restartCount).toBeUndefined();
      else expect(info?.restartCount ?? 0).toBe(job.restartCount);
    }
  });

  it('records no restart count where SLURM sets none (the first run), as before', () => {
    expect(slurmFromEnv({ SLURM_JOB_ID: '9' })).toEqual({ jobId: '9' });
    expect(slurmFromEnv({ SLURM_JOB_ID: '9', SLURM_RESTART_COUNT: '0' })).toEqual({
      jobId: '9',
      restartCount: 0,
    });
  });

  it('records the nodes of the job as SLURM lists them', () => {
    expect(slurmFromEnv({ SLURM_JOB_ID: '9', SLURM_JOB_NODELIST: 'node[1-2]' })).toEqual({
      jobId: '9',
      nodes: 'node[1-2]',
    });
  });

  it('expands %j and %A from the same parse (SLURM_JOBID too)', () => {
    expect(expandJobPattern('runs/%j', { SLURM_JOBID: '7' })).toBe('runs/7');
    expect(
      expandJobPattern('runs/%A_%a', {
        SLURM_JOB_ID: '501',
        SLURM_ARRAY_JOB_ID: '500',
        SLURM_ARRAY_TASK_ID: '1',
      }),
    ).toBe('runs/500_1');
    expect(expandJobPattern('runs/%A', { SLURM_JOB_ID: '7' })).toBe('runs/7');
    expect(() => expandJobPattern('runs/%a', { SLURM_JOB_ID: '7' })).toThrow(
      /SLURM_ARRAY_TASK_ID is not set/,
    );
    expect(() => expandJobPattern('runs/%j', {})).toThrow(/SLURM_JOB_ID is not set/);
  });
});

describe('classifyTermination with an unknown restart count', () => {
  it('does not take a raised Restarts for a requeue it cannot prove', () => {
    expect(classifyTermination(parseJobRecord(`${RUNNING} Restarts=2`), undefined)).toBe('unknown');
  });
});

describe('leadTimeMs', () => {
  it('adds jitter and a 10 s margin to short checkpoints', () => {
    expect(leadTimeMs(undefined)).toBe(DEFAULT_CHECKPOINT_MS + 30_000 + 10_000);
    expect(leadTimeMs(5_000)).toBe(45_000);
  });

  it('adds 10 % margin to long checkpoints', () => {
    expect(leadTimeMs(200_000)).toBe(200_000 + 30_000 + 20_000);
  });
});

describe('measuredCheckpointMs', () => {
  const ev = (type: string, time: string, extra: Record<string, unknown> = {}): JournalEvent => ({
    type,
    time,
    ...extra,
  });
  const commit = (time: string, durationMs: unknown): JournalEvent =>
    ev('commit', time, { seq: 1, step: 1, bytes: 0, writtenBytes: 0, durationMs });

  it('is undefined before any commit', () => {
    expect(measuredCheckpointMs([])).toBeUndefined();
    expect(measuredCheckpointMs([ev('start', '2026-12-02T11:00:00Z')])).toBeUndefined();
  });

  it('takes the slowest of the last five, counting stop → commit', () => {
    const events = [
      commit('2026-12-02T11:00:00Z', 99_000), // older than the last five
      ...[1, 2, 3, 4].map((i) => commit(`2026-12-02T11:0${i}:00Z`, 1000 * i)),
      ev('stop', '2026-12-02T11:05:00Z', { reason: { kind: 'deadline', detail: 'soon' }, pid: 1 }),
      commit('2026-12-02T11:05:12Z', 2000),
    ];
    expect(measuredCheckpointMs(events)).toBe(12_000);
  });

  it('skips a malformed commit (a duration that is not a number) and a stop without its reason', () => {
    expect(measuredCheckpointMs([commit('2026-12-02T11:00:00Z', 'fast')])).toBeUndefined();
    const events = [ev('stop', '2026-12-02T11:05:00Z'), commit('2026-12-02T11:05:12Z', 2000)];
    expect(measuredCheckpointMs(events)).toBe(2000);
  });
});

describe('parseSlurmTime', () => {
  it('reads every SLURM --time form', () => {
    expect(parseSlurmTime('10')).toBe(600_000);
    expect(parseSlurmTime('10:30')).toBe(630_000);
    expect(parseSlurmTime('1:00:05')).toBe(3_605_000);
    expect(parseSlurmTime('2-0')).toBe(2 * 86_400_000);
    expect(parseSlurmTime('1-2:3')).toBe((26 * 60 + 3) * 60_000);
    expect(parseSlurmTime('1-0:0:7')).toBe(86_407_000);
    expect(parseSlurmTime(' UNLIMITED ')).toBeUndefined();
    expect(parseSlurmTime('infinite')).toBeUndefined();
  });

  it('rejects bad input with a UsageError naming the value', () => {
    for (const bad of ['', '1h', '-5', '1:2:3:4', '1-', 'ten']) {
      expect(() => parseSlurmTime(bad)).toThrow(UsageError);
    }
    expect(() => parseSlurmTime('1h')).toThrow('got `1h`');
  });
});

describe('chooseLeadSeconds', () => {
  it('uses the full lead when the limit is long or unlimited', () => {
    expect(chooseLeadSeconds(undefined, undefined)).toBe(70);
    expect(chooseLeadSeconds(3_600_000, 5_000)).toBe(45);
  });

  it('never warns in the first half of a short limit', () => {
    expect(chooseLeadSeconds(120_000, undefined)).toBe(30); // 60 s half − 30 s jitter
  });

  it('asks for at least one second', () => {
    expect(chooseLeadSeconds(10_000, undefined)).toBe(1);
  });
});

describe('shellQuote and buildBatchScript', () => {
  it('quotes only words that need it', () => {
    expect(shellQuote('/usr/bin/python3')).toBe('/usr/bin/python3');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('$HOME')).toBe("'$HOME'");
  });

  it('writes the #SBATCH lines and an exec of ckpt run', () => {
    const script = buildBatchScript({
      node: '/opt/node/bin/node',
      ckptBin: '/opt/ckpt/bin/ckpt.js',
      store: '/scratch/run 1',
      runArgs: ['--every', '5m'],
      command: ['python3', 'train.py', "--name=it's"],
      warningSignal: 'SIGUSR2',
      leadSeconds: 70,
    });
    const lines = script.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('#SBATCH --requeue');
    expect(lines).toContain('#SBATCH --open-mode=append');
    expect(lines).toContain('#SBATCH --signal=B:USR2@70');
    expect(lines.at(-2)).toBe(
      `exec /opt/node/bin/node /opt/ckpt/bin/ckpt.js --store '/scratch/run 1' run --every 5m -- python3 train.py '--name=it'\\''s'`,
    );
    expect(script.endsWith('\n')).toBe(true);
  });
});

describe('submitBatch', () => {
  it('reads the job id of `sbatch --parsable`, with or without a cluster', () => {
    expect(parseSbatchOutput('88123\n')).toBe('88123');
    expect(parseSbatchOutput('88123;cluster1\n')).toBe('88123');
    expect(parseSbatchOutput('sbatch: warning: something\n88124\n')).toBe('88124');
  });

  it('says where SLURM is missing, and what sbatch said when it refused', async () => {
    await expect(submitBatch('/tmp/job.sh', [], { command: '/nonexistent/sbatch' })).rejects.toThrow(
      /`sbatch` was not found/,
    );
    const refused = await submitBatch('/tmp/job.sh', ['-p', 'long'], { command: 'false' }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(UsageError);
    expect((refused as UsageError).message).toMatch(/^sbatch refused the job: /);
    expect((refused as UsageError).hint).toContain('/tmp/job.sh');
  });
});
