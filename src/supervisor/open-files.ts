import { promises as fsp } from 'node:fs';
import { processesInGroup } from './process-group.js';

/**
 * The subset of `paths` (absolute) that some process of group `pgid` holds open for writing,
 * read from /proc/<pid>/fd and the flags in /proc/<pid>/fdinfo.
 */
export async function openForWriting(pgid: number, paths: ReadonlySet<string>): Promise<Set<string>> {
  const writing = new Set<string>();
  if (paths.size === 0) return writing;
  for (const pid of await processesInGroup(pgid)) {
    const fds = await fsp.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await fsp.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (!paths.has(target)) continue;
      const info = await fsp.readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
      const flags = /^flags:\s+([0-7]+)/m.exec(info);
      // O_WRONLY = 1, O_RDWR = 2 (octal flags as the kernel prints them).
      if (flags && (Number.parseInt(flags[1]!, 8) & 3) !== 0) writing.add(target);
    }
  }
  return writing;
}
