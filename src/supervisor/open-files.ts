import { promises as fsp } from 'node:fs';
import { liveProcessesInGroup, processesInGroup } from './process-group.js';

/**
 * Which of `paths` (absolute) the live processes of group `pgid` hold open for writing, and by
 * which pids, read from /proc/<pid>/fd and the flags in /proc/<pid>/fdinfo. `alive` lists the
 * group's live processes as they are after the look: a process that died before its descriptors
 * were read shows none, so "not open" is evidence only for the pids in `alive`.
 */
export async function writersInGroup(
  pgid: number,
  paths: ReadonlySet<string>,
): Promise<{ writing: Map<string, number[]>; alive: Set<number> }> {
  const writing = new Map<string, number[]>();
  if (paths.size > 0) {
    for (const { pid, tid } of await liveProcessesInGroup(pgid)) {
      // A process whose main thread has exited shows its files under a running thread only.
      const at = tid === pid ? `/proc/${pid}` : `/proc/${pid}/task/${tid}`;
      const fds = await fsp.readdir(`${at}/fd`).catch(() => [] as string[]);
      for (const fd of fds) {
        const target = await fsp.readlink(`${at}/fd/${fd}`).catch(() => '');
        if (!paths.has(target)) continue;
        const info = await fsp.readFile(`${at}/fdinfo/${fd}`, 'utf8').catch(() => '');
        const flags = /^flags:\s+([0-7]+)/m.exec(info);
        // O_WRONLY = 1, O_RDWR = 2 (octal flags as the kernel prints them).
        if (flags && (Number.parseInt(flags[1]!, 8) & 3) !== 0) {
          writing.set(target, [...(writing.get(target) ?? []), pid]);
        }
      }
    }
  }
  return { writing, alive: new Set(await processesInGroup(pgid)) };
}
