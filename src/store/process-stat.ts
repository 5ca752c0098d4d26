import { promises as fsp } from 'node:fs';

/** What ckpt reads of a local process from `/proc/<pid>/stat` (Linux). */
export interface ProcessStat {
  /** One letter: R running, S sleeping, D in I/O, Z zombie (exited, not yet reaped), X dead… */
  state: string;
  pgrp: number;
  /** The kernel's per-process flags (PF_*). */
  flags: number;
  /** Start time in clock ticks since boot, to tell a reused pid apart. */
  start: number;
}

/** The kernel's flag for a process in its exit path (`do_exit` sets it first of all). */
const PF_EXITING = 0x4;

/** Parses the text of a `/proc/<pid>/stat` file; undefined if it is not one. */
export function parseProcessStat(text: string): ProcessStat | undefined {
  // The command name (field 2) may contain spaces and parens, so count from its last closing paren.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const flags = Number(fields[6]);
  const start = Number(fields[19]);
  if (!state || !Number.isFinite(pgrp) || !Number.isFinite(flags) || !Number.isFinite(start))
    return undefined;
  return { state, pgrp, flags, start };
}

/** The stat of local process `pid`, or undefined when it is gone (or /proc is absent). */
export async function readProcessStat(pid: number): Promise<ProcessStat | undefined> {
  const text = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseProcessStat(text);
}

/**
 * Whether a process has exited or is exiting, and so will never write again: a zombie (or dead)
 * process keeps its pid and /proc entry until its parent, often init, reaps it, which can take a
 * second or more; and a killed process runs its exit path first, with PF_EXITING set, for as long
 * as it takes to free its memory (hundreds of ms for a few GiB), closing its files near the end
 * of it. Counting it alive then would read "holds no file open" as "is idle".
 */
export function hasExited(stat: ProcessStat): boolean {
  return stat.state === 'Z' || stat.state === 'X' || stat.state === 'x' || (stat.flags & PF_EXITING) !== 0;
}

/**
 * A thread of process `pid` that has not exited (`pid` itself when its main thread runs), or
 * undefined when all have. The process's own stat reads exited as soon as its main thread is:
 * a program whose main thread called `pthread_exit` runs on in its other threads, and its
 * `/proc/<pid>/fd` is empty then while `/proc/<pid>/task/<tid>/fd` is not.
 */
export async function liveThreadOf(pid: number, stat: ProcessStat): Promise<number | undefined> {
  if (!hasExited(stat)) return pid;
  const tids = await fsp.readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  for (const name of tids) {
    if (Number(name) === pid) continue;
    const text = await fsp.readFile(`/proc/${pid}/task/${name}/stat`, 'utf8').catch(() => undefined);
    const thread = text === undefined ? undefined : parseProcessStat(text);
    if (thread && !hasExited(thread)) return Number(name);
  }
  return undefined;
}

/** Start time of a local process from /proc (Linux), or undefined where /proc is absent. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  return (await readProcessStat(pid))?.start;
}
