/**
 * What a look while the program runs may take as evidence that a file is complete. "Settled and
 * not open for writing" is evidence only about processes that are alive: a writer SIGKILLed in
 * the middle of an in-place write holds nothing open any more and its torn file settles. These
 * tests kill a real writer mid-write and check that no look before the exit's own commits it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLease, type Lease, Store } from '../../src/store/index.js';
import { FileCapturer } from '../../src/supervisor/capture.js';
import { isAlive } from '../helpers/procfs.js';
import { useTempDirs } from '../helpers/tmp.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const tempDir = useTempDirs('ckpt-capture-evidence-');
const SETTLE_MS = 50;
const children: ChildProcess[] = [];
const leases: Lease[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const lease of leases.splice(0)) await lease.release();
});

/**
 * Starts `sh -c script` in a process group of its own (as ckpt run does) in `cwd`, and a capturer
 * of `state.bin` over a new store.
 */
async function start(script: string): Promise<{ cwd: string; pgid: number; capturer: FileCapturer }> {
  const cwd = tempDir();
  const storeDir = join(cwd, '.store');
  mkdirSync(storeDir);
  const store = await Store.open(storeDir, { create: true });
  const lease = await acquireLease(store.root);
  leases.push(lease);
  const child = spawn('/bin/sh', ['-c', script], { cwd, detached: true, stdio: 'ignore' });
  children.push(child);
  const capturer = new FileCapturer(
    store,
    lease,
    cwd,
    { globs: ['state.bin'] },
    { settleMs: SETTLE_MS, compression: 'off', check: undefined, stepFrom: undefined, warn: () => {} },
  );
  return { cwd, pgid: child.pid!, capturer };
}

/** Waits until the writer has written its first half and holds the file open (the marker file). */
async function waitMidWrite(cwd: string): Promise<void> {
  await waitFor(() => existsSync(join(cwd, 'half')), 'the writer to reach mid-write', {
    timeoutMs: 10_000,
    everyMs: 5,
  });
}

describe('capture evidence while the program runs', () => {
  it('takes nothing from a look made after the program died mid-write (its torn file settled)', async () => {
    // Writes half of the file in place, says so, and waits to be killed with the file open.
    const { cwd, pgid, capturer } = await start(
      'exec 3>state.bin; printf first-half >&3; touch half; exec sleep 60',
    );
    await waitMidWrite(cwd);
    expect(await capturer.poll('running', pgid, 1)).toBeUndefined(); // open for writing
    process.kill(pgid, 'SIGKILL');
    await waitFor(() => !isAlive(pgid), 'the writer to die', { timeoutMs: 10_000, everyMs: 5 });
    await sleep(3 * SETTLE_MS);
    // The torn file has settled and nobody holds it open: still no capture while "running".
    expect(readFileSync(join(cwd, 'state.bin'), 'utf8')).toBe('first-half');
    expect(await capturer.poll('running', pgid, 1)).toBeUndefined();
    // The look after the crash has no evidence either (no rename, no --check).
    expect(await capturer.poll('after-crash', undefined, 1)).toBeUndefined();
  });

  it('does not trust a file whose writer (another process of the job) died holding it', async () => {
    // The program lives on; a child of it writes half the file and is killed mid-write.
    const { cwd, pgid, capturer } = await start(
      '(exec 3>state.bin; printf first-half >&3; touch half; exec sleep 60) & echo $! > writer; wait; sleep 60',
    );
    await waitMidWrite(cwd);
    expect(await capturer.poll('running', pgid, 1)).toBeUndefined(); // the child holds it open
    const writer = Number(readFileSync(join(cwd, 'writer'), 'utf8'));
    process.kill(writer, 'SIGKILL');
    await waitFor(() => !isAlive(writer), 'the child writer to die', { timeoutMs: 10_000, everyMs: 5 });
    await sleep(3 * SETTLE_MS);
    expect(isAlive(pgid)).toBe(true);
    expect(await capturer.poll('running', pgid, 1)).toBeUndefined();
    expect(await capturer.poll('running', pgid, 1)).toBeUndefined(); // and at every later look
  });

  it('still captures a settled file that no process of the live job holds open', async () => {
    const { cwd, pgid, capturer } = await start('printf complete > state.bin; touch half; exec sleep 60');
    await waitMidWrite(cwd);
    await sleep(3 * SETTLE_MS);
    const result = await capturer.poll('running', pgid, 7);
    expect(result?.files).toEqual(['state.bin']);
  });
});

describe('a file that vanished and was created again in place', () => {
  it('is a new file, not a replacement: after the writer dies mid-write, nothing is taken', async () => {
    // A first version is seen; the file is removed (as a restore's set-aside with nothing to
    // restore removes it), then the program creates it again in place and dies mid-write.
    const { cwd, pgid, capturer } = await start(
      'printf complete > state.bin; touch first; while [ ! -e go ]; do sleep 0.01; done; rm state.bin; touch gone; while [ ! -e go2 ]; do sleep 0.01; done; exec 3>state.bin; printf first-half >&3; touch half; exec sleep 60',
    );
    await waitFor(() => existsSync(join(cwd, 'first')), 'the first version', {
      timeoutMs: 10_000,
      everyMs: 5,
    });
    await capturer.markCurrent();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(cwd, 'go'), '');
    await waitFor(() => existsSync(join(cwd, 'gone')), 'the file removed', { timeoutMs: 10_000, everyMs: 5 });
    await capturer.markCurrent(); // a restore that restored nothing
    writeFileSync(join(cwd, 'go2'), '');
    await waitMidWrite(cwd);
    expect(await capturer.poll('running', pgid, 1)).toBeUndefined(); // open for writing
    process.kill(pgid, 'SIGKILL');
    await waitFor(() => !isAlive(pgid), 'the writer to die', { timeoutMs: 10_000, everyMs: 5 });
    expect(await capturer.poll('after-crash', undefined, 1)).toBeUndefined();
  });
});
