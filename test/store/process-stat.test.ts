/**
 * Telling a running process from one that has exited or is exiting (src/store/process-stat.ts):
 * a SIGKILLed process that holds much memory stays in its exit path, not yet a zombie, for as long
 * as freeing it takes, and closes its files near the end; it must count as exited from the start.
 * And a process whose main thread called pthread_exit looks like a zombie while its other threads
 * run and write: it must count as running, with its open files found under a running thread.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { hasExited, liveThreadOf, parseProcessStat, readProcessStat } from '../../src/store/process-stat.js';
import { writersInGroup } from '../../src/supervisor/open-files.js';
import { describeNeeds, GCC, PYTHON3 } from '../helpers/needs.js';
import { startZombie } from '../helpers/proc.js';

describe('parseProcessStat', () => {
  it('reads state, group, flags and start time, past a command name with spaces and parens', () => {
    const text = '4242 (a (b) c) S 1 4240 4240 0 -1 4194368 0 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10\n';
    expect(parseProcessStat(text)).toEqual({ state: 'S', pgrp: 4240, flags: 4194368, start: 987654 });
    expect(parseProcessStat('garbage')).toBeUndefined();
  });

  it('counts a zombie as exited', async () => {
    const zombie = await startZombie();
    try {
      expect(hasExited((await readProcessStat(zombie.pid))!)).toBe(true);
      expect(hasExited((await readProcessStat(process.pid))!)).toBe(false);
    } finally {
      zombie.end();
    }
  });
});

describeNeeds('a process in its exit path', PYTHON3, () => {
  it('counts as exited from the moment it is killed, not from when it becomes a zombie', async () => {
    const child = spawn(
      'python3',
      [
        '-c',
        'import sys,time\nb=bytearray(1<<30)\nfor i in range(0,len(b),4096): b[i]=1\nprint("ready",flush=True)\ntime.sleep(60)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    await once(child.stdout!, 'data');
    const pid = child.pid!;
    process.kill(pid, 'SIGKILL');
    // Sampled without a pause until it is a zombie: the exit path (freeing 1 GiB) takes a while.
    let exiting = 0;
    for (;;) {
      const stat = await readProcessStat(pid);
      if (stat === undefined || stat.state === 'Z') break;
      if (stat.flags & 0x4) {
        exiting++;
        expect(hasExited(stat), `state ${stat.state}, flags ${stat.flags.toString(16)}`).toBe(true);
      }
    }
    expect(exiting, 'samples taken while it was exiting but not yet a zombie').toBeGreaterThan(0);
    await exited;
  });
});

/** Main calls pthread_exit at once; a second thread writes the file named by argv[1] for ~3 s. */
const MAIN_EXITS_EARLY = `
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static const char *path;
static void *worker(void *a) {
  (void)a;
  FILE *f = fopen(path, "w");
  for (int i = 0; i < 30; i++) { fputc('x', f); fflush(f); usleep(100000); }
  fclose(f);
  return NULL;
}
int main(int argc, char **argv) {
  (void)argc;
  path = argv[1];
  pthread_t t;
  pthread_create(&t, NULL, worker, NULL);
  pthread_exit(NULL);
}
`;

describeNeeds('a process whose main thread has exited while another runs', GCC, () => {
  it('runs on: liveThreadOf names the running thread, and its file open for writing is found', async () => {
    const { mkdtempSync, realpathSync, rmSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { spawnSync } = await import('node:child_process');
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'ckpt-pthread-exit-')));
    try {
      writeFileSync(join(dir, 'p.c'), MAIN_EXITS_EARLY);
      const cc = spawnSync('gcc', ['-pthread', '-o', join(dir, 'p'), join(dir, 'p.c')], { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const out = join(dir, 'out.txt');
      const child = spawn(join(dir, 'p'), [out], { detached: true, stdio: 'ignore' });
      const exited = once(child, 'exit');
      await new Promise((r) => setTimeout(r, 500));
      const stat = (await readProcessStat(child.pid!))!;
      expect(hasExited(stat), 'the main thread alone reads as exited').toBe(true);
      const tid = await liveThreadOf(child.pid!, stat);
      expect(tid).toBeDefined();
      expect(tid).not.toBe(child.pid);
      const { writing, alive } = await writersInGroup(child.pid!, new Set([out]));
      expect(alive.has(child.pid!)).toBe(true);
      expect(writing.get(out)).toEqual([child.pid]);
      await exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
