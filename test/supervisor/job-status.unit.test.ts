/**
 * `ckpt status` from a journal, without running anything: the story must not depend on the order
 * in which two copies of a job (one of them stale after a node failure) happen to write.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendJournal, Store } from '../../src/store/index.js';
import { readJobStatus } from '../../src/supervisor/job-status.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs('ckpt-job-status-');
const OLD = 1111;
const NEW = 2222;

/** A fresh start of the program by `pid`, in the journal of the store at `root`. */
function journalStart(root: string, pid: number): Promise<void> {
  return appendJournal(root, 'start', {
    writer: { host: 'n1', pid },
    command: ['x'],
    restarts: 0,
    resumeFrom: null,
    skipped: [],
  });
}

async function story(
  order: 'interruption-first' | 'stop-first',
): Promise<Awaited<ReturnType<typeof readJobStatus>>> {
  const store = await Store.open(join(tempDir(), 'store'), { create: true });
  const start = (pid: number) => journalStart(store.root, pid);
  const interruption = () =>
    appendJournal(store.root, 'interruption', {
      kind: 'node-failure',
      slurm: { jobId: '7', restartCount: 1, requeueTarget: '7' },
      pid: NEW,
    });
  const fenced = () =>
    appendJournal(store.root, 'stop', { reason: { kind: 'fenced', detail: 'taken over' }, pid: OLD });
  await start(OLD);
  if (order === 'interruption-first') {
    await interruption();
    await start(NEW);
    await fenced();
  } else {
    await fenced();
    await interruption();
    await start(NEW);
  }
  await appendJournal(store.root, 'exit', {
    code: 0,
    signal: null,
    meaning: 'finished',
    runtimeMs: 1,
    pid: NEW,
  });
  await appendJournal(store.root, 'run-end', {
    outcome: 'finished',
    message: 'done',
    exit: { code: 0, signal: null },
    restarts: 0,
    pid: NEW,
  });
  return readJobStatus(store);
}

describe('readJobStatus', () => {
  for (const order of ['interruption-first', 'stop-first'] as const) {
    it(`a node failure and the stale copy's fencing are both told, ${order}`, async () => {
      const status = await story(order);
      expect(status.state).toBe('finished');
      expect(status.segments).toHaveLength(2);
      expect(status.segments[0]!.endReason).toMatch(/node failure.*fenced/);
      expect(status.segments[1]!.endReason).toBeUndefined();
    });
  }
});

describe('readJobStatus and the lease probe', () => {
  it('judges the holder as ckpt run would, given the same probe', async () => {
    const store = await Store.open(join(tempDir(), 'store'), { create: true });
    await appendJournal(store.root, 'start', {
      writer: { host: hostname(), pid: process.pid },
      command: ['x'],
      restarts: 0,
      resumeFrom: null,
      skipped: [],
    });
    // A live holder on this host (this process), which a probe knows to be a stale copy.
    const holder = {
      host: hostname(),
      pid: process.pid,
      token: 'cafe'.repeat(6),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(join(store.root, 'lease.json'), `${JSON.stringify(holder)}\n`);
    expect(await readJobStatus(store)).toMatchObject({ state: 'running', holder: { state: 'alive' } });
    const stale = await readJobStatus(store, { holderProbe: async () => 'dead' });
    expect(stale).toMatchObject({ state: 'supervisor-died', holder: { state: 'dead' } });
  });
});

describe('readJobStatus on an untrusted journal', () => {
  it('skips unknown events and known ones whose fields do not check out', async () => {
    const store = await Store.open(join(tempDir(), 'store'), { create: true });
    const appendRaw = appendJournal as unknown as (
      root: string,
      type: string,
      fields: object,
    ) => Promise<void>;
    await journalStart(store.root, OLD);
    await appendRaw(store.root, 'start', { writer: 'n1', resumeFrom: { seq: 'x' } });
    await appendRaw(store.root, 'exit', { code: 'x', signal: 9, runtimeMs: 1, pid: OLD });
    await appendRaw(store.root, 'restart', { attempt: 1e9 });
    await appendRaw(store.root, 'checkpoint-failing', { seq: 1, why: { html: '<b>' }, pid: OLD });
    await appendRaw(store.root, 'a-newer-event', { pid: OLD });
    await appendJournal(store.root, 'exit', { code: 3, signal: null, runtimeMs: 1, pid: OLD });
    const status = await readJobStatus(store);
    expect(status.segments).toHaveLength(1);
    expect(status.segments[0]!.exit).toEqual({ code: 3, signal: null });
    expect(status.restarts).toBe(0);
    expect(status.markedFailing).toEqual([]);
    expect(status.journal).toMatchObject({ events: 7, damagedLines: [] });
  });
});

describe('readJobStatus on a journal that cannot be read', () => {
  it('says the history is unknown (not "never run") and why, for a symlink, a FIFO or a directory in its place', async () => {
    for (const plant of ['symlink', 'fifo', 'dir'] as const) {
      const store = await Store.open(join(tempDir(), 'store'), { create: true });
      await journalStart(store.root, OLD);
      const journal = join(store.root, 'journal.log');
      rmSync(journal);
      if (plant === 'symlink') symlinkSync('/dev/null', journal);
      else if (plant === 'fifo') execFileSync('mkfifo', [journal]);
      else mkdirSync(journal);
      const status = await readJobStatus(store);
      expect(status.state, plant).toBe('journal-unreadable');
      expect(status.journal.unreadable, plant).toContain(journal);
    }
  });
});
