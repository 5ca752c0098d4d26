import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { hasExited, readProcessStat } from '../../src/store/process-stat.js';

/** The pid of a process that has run and exited (and been reaped): a provably dead pid. */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  if (child.pid === undefined || child.status !== 0)
    throw new Error('could not run a short-lived node process');
  return child.pid;
}

/**
 * A zombie: a process that has exited but that its parent (`sleep`, which never waits) has not
 * reaped, so its pid and /proc entry stay. `end()` kills the parent, and init reaps both.
 */
export async function startZombie(): Promise<{ pid: number; end: () => void }> {
  // The child exits once the shell has become `sleep` (exec), so no shell is left to reap it.
  const script =
    'p=$$; (while [ "$(cat /proc/$p/comm)" != sleep ]; do sleep 0.01; done) & echo $!; exec sleep 60';
  const parent = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(parent.stdout, 'data')) as [Buffer];
  const pid = Number(line.toString().trim());
  for (let i = 0; i < 1000; i++) {
    const stat = await readProcessStat(pid);
    if (stat && hasExited(stat)) return { pid, end: () => parent.kill('SIGKILL') };
    await new Promise((r) => setTimeout(r, 10));
  }
  parent.kill('SIGKILL');
  throw new Error(`process ${pid} did not become a zombie`);
}
