import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { errnoCode } from '../errors.js';

/** Pids of all live processes in process group `pgid` (Linux /proc). */
export async function processesInGroup(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fsp.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised command: state ppid pgrp …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(name));
  }
  return pids;
}

/** Sends `signal` to every process of the group; false if the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ESRCH') return false;
    throw error;
  }
}

/** Resolves true once no process of the group is left, false after `timeoutMs`. */
export async function waitGroupGone(pgid: number, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if ((await processesInGroup(pgid)).length === 0) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Starts a watchdog: a tiny shell that outlives ckpt and, if ckpt dies without cleaning up
 * (SIGKILL, OOM killer), terminates the job's whole process group within a second.
 * NOTE: Linux's PR_SET_PDEATHSIG would reach only the direct child, not the workers it forks.
 */
export function startWatchdog(supervisorPid: number, pgid: number): { stop(): void } {
  const script =
    'while kill -0 "$0" 2>/dev/null; do sleep 0.1; done; kill -TERM -"$1" 2>/dev/null; sleep 0.4; kill -KILL -"$1" 2>/dev/null';
  const dog = spawn('/bin/sh', ['-c', script, String(supervisorPid), String(pgid)], {
    detached: true,
    stdio: 'ignore',
  });
  dog.unref();
  return {
    stop() {
      if (dog.exitCode === null && dog.signalCode === null) dog.kill('SIGKILL');
    },
  };
}
