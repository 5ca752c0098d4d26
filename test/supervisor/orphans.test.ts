/**
 * No orphans: the program's whole process group goes when ckpt goes. When ckpt is SIGKILLed its
 * watchdog ends the group; when ckpt is stopped with SIGTERM every worker gets the checkpoint
 * signal and SIGTERM, and nothing of the group is left once ckpt has exited.
 * Linux only: reads /proc to find the processes of the group.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobStatus } from '../../src/supervisor/index.js';
import { ckptJson, cleanEnv, runCkpt, startCkpt, useCkptRuns } from '../helpers/cli.js';
import { groupMembers, isAlive, procInfo } from '../helpers/procfs.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const SPAWNER = join(REPO_ROOT, 'test', 'fixtures', 'supervisor', 'spawner.mjs');

interface Pids {
  pid: number;
  workers: Array<{ name: string; pid: number; mode: 'exit' | 'stubborn' | 'sleep' }>;
}

function readPids(dir: string): Pids | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'pids.json'), 'utf8')) as Pids;
  } catch {
    return undefined;
  }
}

function receipts(dir: string, name: string): string[] {
  return readFileSync(join(dir, `${name}.log`), 'utf8')
    .split('\n')
    .filter(Boolean);
}

describe.runIf(process.platform === 'linux')('ckpt run: no orphaned processes', () => {
  const { tempDir } = useCkptRuns('ckpt-orphans-');
  /** Groups this file started: whatever a failed test left of them is killed afterwards. */
  const groups: number[] = [];
  afterEach(() => {
    for (const pgid of groups.splice(0)) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
  });

  it('kills the whole process group within 1.5 s when ckpt itself is SIGKILLed', async () => {
    const work = tempDir();
    const store = join(tempDir(), 'store');
    const run = startCkpt(['--store', store, 'run', '--', process.execPath, SPAWNER], {
      cwd: work,
      env: cleanEnv({ SPAWNER_DIR: work, SPAWNER_WORKERS: '2', SPAWNER_SLEEPS: '2' }),
    });
    const pids = await waitFor(() => readPids(work), 'the workers to start');
    const pgid = procInfo(pids.pid)!.pgrp;
    groups.push(pgid);
    // The program leads its own group, apart from ckpt's (the test's) group.
    expect(pgid).toBe(pids.pid);
    expect(procInfo(run.pid)!.pgrp).not.toBe(pgid);
    const members = groupMembers(pgid).map((p) => p.pid);
    expect(members.sort()).toEqual([pids.pid, ...pids.workers.map((w) => w.pid)].sort());

    run.child.kill('SIGKILL');
    const end = await run.exited;
    expect(end.signal).toBe('SIGKILL');
    await sleep(1500);
    expect(groupMembers(pgid)).toEqual([]);
    for (const w of pids.workers) expect(isAlive(w.pid), w.name).toBe(false);

    // The journal tells what happened, and the dead supervisor's lease does not block the next run.
    expect(ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work }).state).toBe('supervisor-died');
    const next = runCkpt(['--store', store, 'run', '--', 'true'], { cwd: work });
    expect(next.code, next.stderr).toBe(0);
  });

  it('on SIGTERM to ckpt, every worker gets the signals and none is left when ckpt exits', async () => {
    const work = tempDir();
    const run = startCkpt(
      [
        '--store',
        join(tempDir(), 'store'),
        'run',
        '--grace',
        '1s',
        '--kill-grace',
        '1s',
        '--',
        process.execPath,
        SPAWNER,
      ],
      { cwd: work, env: cleanEnv({ SPAWNER_DIR: work, SPAWNER_WORKERS: '3' }) },
    );
    const pids = await waitFor(() => readPids(work), 'the workers to start');
    const pgid = procInfo(pids.pid)!.pgrp;
    groups.push(pgid);
    expect(groupMembers(pgid)).toHaveLength(4);

    run.child.kill('SIGTERM');
    const end = await run.exited;
    expect(end.code, end.stderr).toBe(75);
    // Checked at once: ckpt must not exit before its program's group is gone.
    expect(groupMembers(pgid)).toEqual([]);

    expect(receipts(work, 'main')).toEqual(['SIGUSR2', 'SIGTERM']);
    for (const w of pids.workers) {
      const got = receipts(work, w.name);
      expect(got.slice(0, 3), w.name).toEqual(['ready', 'SIGUSR2', 'SIGTERM']);
      // The stubborn one ignored SIGTERM (maybe twice) and was SIGKILLed.
      if (w.mode === 'exit') expect(got, w.name).toHaveLength(3);
      expect(isAlive(w.pid), w.name).toBe(false);
    }
  });
});
