/**
 * The pure parts of the SLURM executor: reading squeue, the batch script, the attempts a
 * restarted head rebuilds from the journal, and what a job that left no record means.
 */
import { describe, expect, it } from 'vitest';
import type { FlowStep } from '../../src/flow/index.js';
import type { StoredRecord } from '../../src/flow/records.js';
import { noRecordError, outstandingAttempts, resumableEnd } from '../../src/flow/slurm-executor.js';
import { buildFlowBatchScript, type Submission } from '../../src/flow/slurm-job.js';
import { parseJobList } from '../../src/slurm/index.js';
import type { JournalEvent } from '../../src/store/index.js';

const step = (over: Partial<FlowStep> = {}): FlowStep => ({
  name: 'sim',
  run: 'true',
  needs: [],
  inputs: [],
  outputs: [],
  env: [],
  executor: 'slurm',
  slurm: {},
  retries: 0,
  forEach: [],
  checkpoint: undefined,
  ...over,
});

describe('squeue output', () => {
  it('reads one line per job or array task, with no comment as undefined and a | inside the comment kept', () => {
    expect(
      parseJobList(
        '71_0|RUNNING|None|ckptflow:abc\n72|PENDING|Resources|(null)\n\n73|FAILED|NonZeroExitCode|a|b\n',
      ),
    ).toEqual([
      { id: '71_0', state: 'RUNNING', reason: 'None', comment: 'ckptflow:abc' },
      { id: '72', state: 'PENDING', reason: 'Resources', comment: undefined },
      { id: '73', state: 'FAILED', reason: 'NonZeroExitCode', comment: 'a|b' },
    ]);
  });
});

describe('the batch script of a submission', () => {
  const submission = (n: number): Submission => ({
    version: 1,
    nonce: 'abc123',
    flowDir: '/data/my flow/.ckpt-flow',
    tasks: Array.from({ length: n }, (_, i) => ({ attemptId: `abc123.${i}` }) as Submission['tasks'][number]),
  });

  it('is an array for several tasks, requeues, appends, carries the nonce, and execs the wrapper quoted', () => {
    const script = buildFlowBatchScript(submission(3), {
      ckpt: ['/usr/bin/node', '/opt/ckpt/bin/ckpt'],
      slurm: { time: '1:00:00', 'cpus-per-task': '2', exclusive: 'true' },
      jobName: 'ckf-sim',
      warning: { signal: 'SIGUSR2', leadSeconds: 90 },
    });
    const lines = script.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('#SBATCH --array=0-2');
    expect(lines).toContain('#SBATCH --comment=ckptflow:abc123');
    expect(lines).toContain('#SBATCH --requeue');
    expect(lines).toContain('#SBATCH --open-mode=append');
    expect(lines).toContain('#SBATCH --signal=B:USR2@90');
    expect(lines).toContain('#SBATCH --time=1:00:00');
    expect(lines).toContain('#SBATCH --cpus-per-task=2');
    expect(lines).toContain('#SBATCH --exclusive');
    expect(lines).toContain('#SBATCH --output=/data/my flow/.ckpt-flow/slurm/abc123.%a.out');
    expect(lines.at(-2)).toBe(
      "exec /usr/bin/node /opt/ckpt/bin/ckpt flow job --submission '/data/my flow/.ckpt-flow/slurm/abc123.json'",
    );
    // Every #SBATCH line comes before the first command: sbatch stops reading them there.
    const firstCommand = lines.findIndex((l) => l !== '' && !l.startsWith('#'));
    expect(lines.findLastIndex((l) => l.startsWith('#SBATCH'))).toBeLessThan(firstCommand);
  });

  it('is a plain job for one task, without a warning signal unless asked', () => {
    const script = buildFlowBatchScript(submission(1), { ckpt: ['ckpt'], slurm: {}, jobName: 'ckf-sim' });
    expect(script).not.toContain('--array');
    expect(script).not.toContain('--signal');
    expect(script).toContain('#SBATCH --output=/data/my flow/.ckpt-flow/slurm/abc123.0.out');
  });
});

describe('the attempts a restarted head rebuilds from the journal', () => {
  const ev = (type: string, fields: Record<string, unknown>): JournalEvent =>
    ({ time: '2026-12-07T10:00:00.000Z', type, ...fields }) as JournalEvent;
  const submit = (nonce: string, tasks: string[]) =>
    ev('flow-submit', {
      run: 'r',
      nonce,
      step: 'gen',
      tasks: tasks.map((task) => ({ task, key: `k-${task}`, attempt: 1 })),
    });
  const record = (nonce: string): StoredRecord => ({ seq: 1, record: { nonce } as StoredRecord['record'] });

  it('keeps each submitted task with no record and no journaled end, with its array task as job', () => {
    const events = [
      submit('n1', ['a', 'b', 'c']),
      ev('flow-submitted', { run: 'r', nonce: 'n1', jobId: '40' }),
      ev('flow-task-end', { run: 'r', task: 'c', attempt: 1, outcome: 'failed', attemptId: 'n1.2' }),
      submit('n2', ['d']),
      ev('flow-submitted', { run: 'r', nonce: 'n2', jobId: '41' }),
      // Journaled before sbatch answered: the job is found later by its comment.
      submit('n3', ['e', 'f']),
    ];
    const open = outstandingAttempts(events, [record('n1.0')]);
    expect(open.map((a) => [a.attemptId, a.task, a.key, a.job])).toEqual([
      ['n1.1', 'b', 'k-b', '40_1'],
      ['n2.0', 'd', 'k-d', '41'],
      ['n3.0', 'e', 'k-e', undefined],
      ['n3.1', 'f', 'k-f', undefined],
    ]);
  });
});

describe('a job that ended without a record', () => {
  const end = (state: string) => ({ kind: 'no-record' as const, state, reason: 'None' });

  it('is resubmitted after a node failure, a preemption, or a time limit of a checkpoint: step', () => {
    const checkpointed = step({ checkpoint: { every: '10m', capture: [], app: undefined } });
    expect(resumableEnd(end('NODE_FAIL'), step())).toBe(true);
    expect(resumableEnd(end('PREEMPTED'), step())).toBe(true);
    expect(resumableEnd(end('TIMEOUT'), checkpointed)).toBe(true);
    expect(resumableEnd(end('TIMEOUT'), step())).toBe(false);
    expect(resumableEnd(end('CANCELLED'), checkpointed)).toBe(false);
    expect(resumableEnd(end('OUT_OF_MEMORY'), step())).toBe(false);
    expect(resumableEnd({ kind: 'not-submitted' }, step())).toBe(true);
  });

  it('says why it failed, and what to change', () => {
    expect(noRecordError(end('CANCELLED'), '42_1')).toBe('cancelled with scancel (job 42_1)');
    expect(noRecordError(end('TIMEOUT'), '42')).toMatch(/time limit \(job 42\).*slurm: \{ time/);
    expect(noRecordError(end('OUT_OF_MEMORY'), '42')).toMatch(/out of memory.*mem/);
    expect(noRecordError(end('UNKNOWN'), '42')).toBe('SLURM no longer knows job 42, and it left no record');
    expect(noRecordError(end('COMPLETED'), '42')).toBe('job 42 ended COMPLETED (None) without a record');
  });
});
