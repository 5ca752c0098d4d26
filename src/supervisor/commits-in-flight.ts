import { promises as fsp } from 'node:fs';
import { LEASE_TOKEN_ENV, roundsInFlight } from '../store/index.js';
import { sleep } from './stop-ladder.js';

/** How often ckpt looks whether the commits in flight have ended. */
const POLL_MS = 100;

/**
 * Pids of the live `ckpt commit` processes on this host (or shells running one) that commit under
 * the lease `token`: the
 * program's commits (its environment lends them the lease), read from /proc. A launcher may
 * leave them behind when it exits: OpenMPI's mpirun gives each rank a process group of its own,
 * so the program's group no longer holds a rank's `ckpt commit`.
 */
async function commitsBorrowing(token: string): Promise<number[]> {
  const marker = `\0${LEASE_TOKEN_ENV}=${token}\0`;
  const found: number[] = [];
  for (const name of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    // Another user's process is unreadable: it cannot hold this run's lease token either.
    const environ = await fsp.readFile(`/proc/${name}/environ`, 'latin1').catch(() => '');
    if (!`\0${environ}`.includes(marker)) continue;
    // `ckpt commit …`, or the shell about to run it (`system("ckpt commit …")` in C).
    const argv = (await fsp.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.some((arg) => /(^|\s)commit(\s|$)/.test(arg))) found.push(Number(name));
  }
  return found;
}

/**
 * After the program's exit, waits at most `maxMs` for its commits still in flight: `ckpt commit`
 * processes under this run's lease, and multi-rank rounds still being written (a rank on another
 * host). Their checkpoint belongs to this run: it must land before ckpt tells the exit, releases
 * the lease and moves on (restart, requeue). Returns whether everything ended in time.
 */
export async function awaitCommitsInFlight(root: string, token: string, maxMs: number): Promise<boolean> {
  const until = Date.now() + maxMs;
  for (;;) {
    const open = (await commitsBorrowing(token)).length + (await roundsInFlight(root));
    if (open === 0) return true;
    if (Date.now() >= until) return false;
    await sleep(POLL_MS);
  }
}
