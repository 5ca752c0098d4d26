import { describe, expect, it } from 'vitest';
import { createSlurmHolderProbe } from '../../src/slurm/holder-probe.js';
import { parseJobRecord } from '../../src/slurm/job.js';
import type { LeaseRecord, SlurmEnv } from '../../src/store/index.js';

const record = (slurm?: LeaseRecord['slurm'], host = 'node07'): LeaseRecord => ({
  host,
  pid: 4123,
  token: 'feedfacefeedfacefeedface',
  startedAt: '2026-12-02T11:00:00.000Z',
  ...(slurm ? { slurm } : {}),
});
const me = (restartCount: number | undefined): SlurmEnv => ({
  jobId: '88123',
  arrayJobId: undefined,
  arrayTaskId: undefined,
  restartCount,
});
const job = (line: string) => async () => parseJobRecord(`JobId=88123 ${line}`);
const noScontrol = async (): Promise<never> => {
  throw new Error('scontrol must not be asked');
};

describe('createSlurmHolderProbe', () => {
  it('cannot tell about a holder outside SLURM', async () => {
    expect(await createSlurmHolderProbe(me(1), noScontrol)(record())).toBeUndefined();
  });

  it('knows an older incarnation of its own requeued job is stale, without asking scontrol', async () => {
    const probe = createSlurmHolderProbe(me(2), noScontrol);
    expect(await probe(record({ jobId: '88123', restartCount: 1 }))).toBe('dead');
    // The first run's record has no count: restart 0.
    expect(await probe(record({ jobId: '88123' }))).toBe('dead');
  });

  it('concludes nothing from an unknown restart count of its own, nor from another job', async () => {
    const running = job('JobState=RUNNING Restarts=0 BatchHost=node07');
    expect(await createSlurmHolderProbe(me(undefined), running)(record({ jobId: '88123' }))).toBe('alive');
    expect(await createSlurmHolderProbe(me(3), running)(record({ jobId: '99', restartCount: 0 }))).toBe(
      'alive',
    );
    expect(await createSlurmHolderProbe(me(1), running)(record({ jobId: '88123', restartCount: 1 }))).toBe(
      'alive',
    );
  });

  it('asks scontrol: gone or ended is dead, running is alive', async () => {
    const held = record({ jobId: '88123' });
    expect(await createSlurmHolderProbe(undefined, async () => undefined)(held)).toBe('dead');
    expect(await createSlurmHolderProbe(undefined, job('JobState=COMPLETED'))(held)).toBe('dead');
    expect(await createSlurmHolderProbe(undefined, job('JobState=PENDING Restarts=1'))(held)).toBe('dead');
    expect(await createSlurmHolderProbe(undefined, job('JobState=COMPLETING BatchHost=node07'))(held)).toBe(
      'alive',
    );
  });

  it('sees a holder left on another node by a requeue', async () => {
    const requeued = job('JobState=RUNNING Restarts=1 BatchHost=node09');
    expect(await createSlurmHolderProbe(undefined, requeued)(record({ jobId: '88123' }))).toBe('dead');
    expect(
      await createSlurmHolderProbe(undefined, requeued)(record({ jobId: '88123', restartCount: 1 })),
    ).toBe('alive');
  });

  it('cannot tell when scontrol fails (a slow slurmctld proves nothing)', async () => {
    const failing = async (): Promise<never> => {
      throw new Error('Socket timed out on send/recv operation');
    };
    expect(await createSlurmHolderProbe(undefined, failing)(record({ jobId: '88123' }))).toBeUndefined();
  });
});
