import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FencedError, LockedError } from '../../src/errors.js';
import { createSlurmHolderProbe } from '../../src/slurm/holder-probe.js';
import {
  acquireLease,
  breakLease,
  type HolderProbe,
  type HolderState,
  holderState,
  Lease,
  type LeaseRecord,
  readJournal,
  readLease,
  type Store,
} from '../../src/store/index.js';
import { processStartTime } from '../../src/store/process-stat.js';
import { deadPid, startZombie } from '../helpers/proc.js';
import { DIST_STORE_URL, requireBuild } from '../helpers/repo.js';
import { openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

function leaseRecord(fields: Partial<LeaseRecord>): LeaseRecord {
  return {
    host: hostname(),
    pid: process.pid,
    token: 'feedfacefeedfacefeedface',
    startedAt: '2024-01-01T00:00:00.000Z',
    ...fields,
  };
}

function writeLeaseFile(root: string, record: LeaseRecord): void {
  writeFileSync(join(root, 'lease.json'), `${JSON.stringify(record)}\n`);
}

async function lockedError(root: string): Promise<LockedError> {
  const error = await acquireLease(root).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LockedError);
  return error as LockedError;
}

/** A separate node process that takes the lease through the built library, then waits to be killed. */
async function startHolder(root: string): Promise<ChildProcess> {
  const script = `
    const { acquireLease } = await import(${JSON.stringify(DIST_STORE_URL)});
    await acquireLease(${JSON.stringify(root)});
    process.stdout.write('held\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!out.includes('held')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`lease holder did not start (exit ${child.exitCode}): ${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

describe('acquireLease', () => {
  let store: Store;
  beforeAll(requireBuild);

  it('refuses a second writer in the same process, naming pid and host', async () => {
    store = await openNewStore(tempDir());
    const lease = await acquireLease(store.root);
    const error = await lockedError(store.root);
    expect(error.message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect(error.hint).toMatch(/Only one writer/);
    await lease.release();
    const again = await acquireLease(store.root);
    expect((await readLease(store.root))?.token).toBe(again.record.token);
    await again.release();
    expect(await readLease(store.root)).toBeUndefined();
  });

  it('takes over a lease whose pid is dead and journals the takeover', async () => {
    store = await openNewStore(tempDir());
    const pid = deadPid();
    writeLeaseFile(store.root, leaseRecord({ pid, token: 'deaddeaddeaddeaddeaddead' }));
    const lease = await acquireLease(store.root);
    expect(lease.record.pid).toBe(process.pid);
    expect((await readLease(store.root))?.token).toBe(lease.record.token);
    const takeovers = (await readJournal(store.root)).events.filter((e) => e.type === 'lease-takeover');
    expect(takeovers).toHaveLength(1);
    expect(takeovers[0]).toMatchObject({ from: { pid, host: hostname() }, by: { pid: process.pid } });
  });

  it('takes over a lease whose pid was reused by another process (start time differs)', async () => {
    store = await openNewStore(tempDir());
    const start = await processStartTime(process.pid);
    expect(start).toBeTypeOf('number');
    writeLeaseFile(store.root, leaseRecord({ processStart: start! - 1 }));
    await expect(acquireLease(store.root)).resolves.toBeInstanceOf(Lease);
  });

  it('takes over a lease whose holder has exited and is not yet reaped (a zombie)', async () => {
    store = await openNewStore(tempDir());
    const zombie = await startZombie();
    try {
      const start = await processStartTime(zombie.pid);
      writeLeaseFile(store.root, leaseRecord({ pid: zombie.pid, processStart: start! }));
      expect(await holderState(await readLease(store.root).then((r) => r!))).toBe('dead');
      await expect(acquireLease(store.root)).resolves.toBeInstanceOf(Lease);
    } finally {
      zombie.end();
    }
  });

  it('never takes over a holder on another host', async () => {
    store = await openNewStore(tempDir());
    const pid = deadPid();
    writeLeaseFile(store.root, leaseRecord({ pid, host: 'some-other-node-17' }));
    const error = await lockedError(store.root);
    expect(error.message).toMatch(/pid \d+ on some-other-node-17.*another host/);
    expect(error.hint).toMatch(/ckpt unlock/);
  });

  it('treats an unreadable lease file as locked, and breakLease removes it', async () => {
    store = await openNewStore(tempDir());
    writeFileSync(join(store.root, 'lease.json'), '{"pid": 12');
    const error = await lockedError(store.root);
    expect(error.hint).toMatch(/unlock --force/);
    await breakLease(store.root);
    await (await acquireLease(store.root)).release();
  });

  it('is exclusive against a real second process until that process is killed', async () => {
    store = await openNewStore(tempDir());
    const child = await startHolder(store.root);
    try {
      const error = await lockedError(store.root);
      expect(error.message).toContain(`pid ${child.pid} on ${hostname()}`);
      expect(JSON.parse(readFileSync(join(store.root, 'lease.json'), 'utf8'))).toMatchObject({
        pid: child.pid,
      });
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      // The kill landed: the holder died by the signal (it would otherwise hold the lease forever).
      expect((await exited)[1]).toBe('SIGKILL');
    }
    const lease = await acquireLease(store.root);
    expect(lease.record.pid).toBe(process.pid);
    const { events } = await readJournal(store.root);
    expect(events.filter((e) => e.type === 'lease-takeover')).toMatchObject([{ from: { pid: child.pid } }]);
    await lease.release();
  });
});

describe('fencing', () => {
  it('fences the old holder after a takeover: assertHeld and Store.commit refuse', async () => {
    const store = await openNewStore(tempDir());
    const record = leaseRecord({ pid: deadPid(), token: '0123456789abcdef01234567' });
    writeLeaseFile(store.root, record);
    const old = new Lease(store.root, record);
    await expect(old.assertHeld()).resolves.toBeUndefined();

    const fresh = await acquireLease(store.root);
    await expect(old.assertHeld()).rejects.toThrow(FencedError);
    await expect(old.assertHeld()).rejects.toThrow(`pid ${process.pid}`);
    const draft = {
      step: 1,
      entries: [],
      meta: {},
      stats: { bytes: 0, writtenBytes: 0, chunks: 0, newChunks: 0 },
      startedAt: performance.now(),
    };
    await expect(store.commit(old, draft)).rejects.toThrow(FencedError);
    expect(await store.listSeqs()).toEqual([]);

    // The old holder's release must not remove the new holder's lease.
    await old.release();
    expect((await readLease(store.root))?.token).toBe(fresh.record.token);
    await expect(store.commit(fresh, draft)).resolves.toMatchObject({ seq: 1 });
    await fresh.release();
    await expect(fresh.assertHeld()).rejects.toThrow(/nobody/);
  });
});

describe('holderState and the probe', () => {
  /** A probe that answers `answer` and counts how often it was asked. */
  function probeSaying(answer: HolderState | undefined): HolderProbe & { asked: number } {
    const probe = Object.assign(
      async () => {
        probe.asked++;
        return answer;
      },
      { asked: 0 },
    );
    return probe;
  }

  it('proves a dead pid on this host dead without asking the probe', async () => {
    const probe = probeSaying('alive');
    expect(await holderState(leaseRecord({ pid: deadPid() }), probe)).toBe('dead');
    expect(probe.asked).toBe(0);
  });

  it('asks the probe about a live holder on this host too: its `dead` wins, else the pid is alive', async () => {
    const live = leaseRecord({});
    for (const [answer, state] of [
      ['dead', 'dead'],
      ['alive', 'alive'],
      ['unknown', 'alive'],
      [undefined, 'alive'],
    ] as const) {
      const probe = probeSaying(answer);
      expect(await holderState(live, probe)).toBe(state);
      expect(probe.asked).toBe(1);
    }
    expect(await holderState(live)).toBe('alive');
  });

  it('takes the probe at its word for a holder on another host, and cannot tell without one', async () => {
    const remote = leaseRecord({ host: 'some-other-node-17' });
    expect(await holderState(remote)).toBe('unknown');
    expect(await holderState(remote, probeSaying(undefined))).toBe('unknown');
    expect(await holderState(remote, probeSaying('alive'))).toBe('alive');
    expect(await holderState(remote, probeSaying('dead'))).toBe('dead');
  });

  it('knows no SLURM rule itself: an older incarnation of a requeued job is stale only by the slurm probe', async () => {
    // A live process here (this one) recorded as restart 0 of job 88123; the asker is restart 1.
    const old = leaseRecord({ slurm: { jobId: '88123' } });
    const asker = { jobId: '88123', arrayJobId: undefined, arrayTaskId: undefined, restartCount: 1 };
    expect(await holderState(old)).toBe('alive');
    const probe = createSlurmHolderProbe(asker, async () => {
      throw new Error('scontrol must not be asked');
    });
    expect(await holderState(old, probe)).toBe('dead');
    expect(await holderState(leaseRecord({ slurm: { jobId: '88123', restartCount: 1 } }), probe)).toBe(
      'alive',
    );
  });

  it('lets acquireLease take over from a live holder the probe proves stale, and journals it', async () => {
    const store = await openNewStore(tempDir());
    writeLeaseFile(store.root, leaseRecord({ token: 'abcdabcdabcdabcdabcdabcd', slurm: { jobId: '5' } }));
    await expect(acquireLease(store.root)).rejects.toThrow(LockedError);
    const lease = await acquireLease(store.root, probeSaying('dead'));
    expect((await readLease(store.root))?.token).toBe(lease.record.token);
    const { events } = await readJournal(store.root);
    expect(events.filter((e) => e.type === 'lease-takeover')).toMatchObject([
      { from: { token: 'abcdabcdabcdabcdabcdabcd' } },
    ]);
    await lease.release();
  });
});
