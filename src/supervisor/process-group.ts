import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { constants } from 'node:os';
import { errnoCode } from '../errors.js';
import { liveThreadOf, readProcessStat } from '../store/index.js';

/** Pids of all live processes in process group `pgid` (Linux /proc). */
export async function processesInGroup(pgid: number): Promise<number[]> {
  return (await liveProcessesInGroup(pgid)).map((p) => p.pid);
}

/**
 * The live processes of group `pgid`, each with a thread of it that runs (`tid`: the pid itself,
 * unless its main thread has exited and others run on): /proc/<pid>/task/<tid> shows its files.
 */
export async function liveProcessesInGroup(pgid: number): Promise<Array<{ pid: number; tid: number }>> {
  const found: Array<{ pid: number; tid: number }> = [];
  for (const name of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = await readProcessStat(pid);
    if (stat?.pgrp !== pgid) continue;
    const tid = await liveThreadOf(pid, stat);
    if (tid !== undefined) found.push({ pid, tid });
  }
  return found;
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
    // A dead but unreaped ckpt is a zombie that `kill -0` still finds: check its state too.
    'while kill -0 "$0" 2>/dev/null && [ "$(sed "s/.*) //" /proc/$0/stat 2>/dev/null | cut -c1)" != Z ]; do sleep 0.1; done; ' +
    'kill -TERM -"$1" 2>/dev/null; sleep 0.4; kill -KILL -"$1" 2>/dev/null';
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

/** Whether process `pid` catches (or ignores) `signal`, from /proc/<pid>/status SigCgt/SigIgn. */
export async function handlesSignal(pid: number, signal: NodeJS.Signals): Promise<boolean> {
  const number = constants.signals[signal];
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const mask = (name: string): bigint =>
    BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)`, 'm').exec(status)?.[1] ?? '0'}`);
  const bit = 1n << BigInt(number - 1);
  return ((mask('SigCgt') | mask('SigIgn')) & bit) !== 0n;
}

/**
 * Sends a checkpoint request to the processes of the group that handle `signal`, and only to
 * them: to a process that does not, SIGUSR2's default action is death. Returns how many got it.
 * NOTE: this also covers the start-up race, when a program has not installed its handler yet.
 */
export async function requestFromHandlers(pgid: number, signal: NodeJS.Signals): Promise<number> {
  let sent = 0;
  for (const pid of await processesInGroup(pgid)) {
    if (!(await handlesSignal(pid, signal))) continue;
    try {
      process.kill(pid, signal);
      sent++;
    } catch {
      // exited meanwhile
    }
  }
  return sent;
}
