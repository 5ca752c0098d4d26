import { spawnSync } from 'node:child_process';

/** The pid of a process that has run and exited (and been reaped): a provably dead pid. */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  if (child.pid === undefined || child.status !== 0)
    throw new Error('could not run a short-lived node process');
  return child.pid;
}
