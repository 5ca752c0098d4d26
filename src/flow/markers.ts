import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, LockedError } from '../errors.js';
import { DIR_MODE, liveThreadOf, readProcessStat, writeFileAtomic } from '../store/index.js';
import { signalGroup, waitGroupGone } from '../supervisor/index.js';

/**
 * A running marker: written by a task's wrapper before its command starts, removed when it ends.
 * The wrapper leads its own process group (pgid = pid), so the group is the task's processes.
 */
export interface RunningMarker {
  task: string;
  pid: number;
  /** The wrapper's start time in clock ticks since boot, to tell a reused pid apart. */
  processStart: number | undefined;
  /** The lease token of the head that started it. */
  token: string;
  attempt: number;
  nonce: string;
  startedAt: string;
  /**
   * How long the task may take to stop after SIGTERM before it is killed: a `checkpoint:` step
   * commits its last checkpoint in that time. Absent: killed at once.
   */
  graceMs?: number;
}

/** Writes the marker (atomically) at `path`. */
export async function writeMarker(path: string, marker: RunningMarker): Promise<void> {
  await fsp.mkdir(join(path, '..'), { recursive: true, mode: DIR_MODE });
  await writeFileAtomic(path, Buffer.from(`${JSON.stringify(marker)}\n`));
}

/** Every marker in `dir`, with its path; unreadable ones are left out. */
export async function readMarkers(dir: string): Promise<{ path: string; marker: RunningMarker }[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
  const out: { path: string; marker: RunningMarker }[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const path = join(dir, name);
    try {
      const marker = JSON.parse(await fsp.readFile(path, 'utf8')) as RunningMarker;
      if (typeof marker.pid === 'number' && typeof marker.task === 'string') out.push({ path, marker });
    } catch {
      // torn or removed meanwhile
    }
  }
  return out;
}

/** Whether the marker's wrapper still runs (same pid and same start time, not exited). */
export async function markerAlive(marker: RunningMarker): Promise<boolean> {
  const stat = await readProcessStat(marker.pid);
  if (stat === undefined || (await liveThreadOf(marker.pid, stat)) === undefined) return false;
  return marker.processStart === undefined || stat.start === marker.processStart;
}

/** How long a reaped task's process group may take to die after SIGKILL. */
export const REAP_TIMEOUT_MS = 30_000;

/**
 * Ends the tasks a dead head left behind: each marker not of `token` whose wrapper still runs has
 * its process group stopped (SIGTERM, then SIGKILL after the marker's grace) and waited for, then
 * every such marker is removed. After this no task of an earlier head runs, so none can run twice
 * at once or commit a record late.
 */
export async function reapStaleTasks(dir: string, token: string): Promise<string[]> {
  const reaped: string[] = [];
  for (const { path, marker } of await readMarkers(dir)) {
    if (marker.token === token) continue;
    if (await markerAlive(marker)) {
      // The wrapper stops its group the same way when it sees its head die; whichever comes first.
      signalGroup(marker.pid, 'SIGTERM');
      if (!(await waitGroupGone(marker.pid, marker.graceMs ?? 0))) signalGroup(marker.pid, 'SIGKILL');
      if (!(await waitGroupGone(marker.pid, REAP_TIMEOUT_MS, 20))) {
        throw new LockedError(
          `Task ${marker.task} of an earlier head (process group ${marker.pid}) does not die after SIGKILL.`,
          { hint: 'It is stuck in the kernel (I/O on a hung file system?). Run again once it is gone.' },
        );
      }
      reaped.push(marker.task);
    }
    await fsp.rm(path, { force: true });
  }
  return reaped;
}
