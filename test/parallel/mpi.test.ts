/**
 * A real MPI job under `ckpt run -- mpirun -np 2`: examples/mpi/ranks.c, each rank with its own
 * state, committed as multi-rank checkpoints (`ckpt commit --rank`). One rank is SIGKILLed at
 * random moments, 10 times: mpirun ends the job, ckpt restarts it from the last complete
 * checkpoint, and the end result equals an uninterrupted run's; no checkpoint ever lacks a rank,
 * and no rank outlives the job. A SIGTERM reaches every rank through mpirun: the job checkpoints
 * at its next step and a new `ckpt run` resumes from there.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { startCkpt, useCkptRuns } from '../helpers/cli.js';
import { mpiEnv } from '../helpers/mpi.js';
import { describeNeeds, MPI } from '../helpers/needs.js';
import { isAlive } from '../helpers/procfs.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const { tempDir } = useCkptRuns('ckpt-mpi-');
const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const STEPS = 1200;

let binary = '';
/** The MPI job: the example on two ranks, checkpointing every `every` steps. */
const job = (every: number) => [
  'mpirun',
  '-np',
  '2',
  binary,
  '--steps',
  String(STEPS),
  '--every',
  String(every),
];

/** The ranks' pids: processes running the example binary with `work` as their directory. */
function ranksIn(work: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (
        readlinkSync(`/proc/${name}/exe`) === binary &&
        readlinkSync(`/proc/${name}/cwd`) === work &&
        isAlive(Number(name))
      )
        pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

const starts = (work: string) =>
  existsSync(join(work, 'starts.txt'))
    ? readFileSync(join(work, 'starts.txt'), 'utf8').trim().split('\n').map(Number)
    : [];

/** Every checkpoint has both ranks' parts, and each rank's part restores. */
async function checkComplete(store: string): Promise<number> {
  if (!existsSync(join(store, 'ckpt-store.json'))) return 0;
  const opened = await Store.open(store);
  const seqs = await opened.listSeqs();
  for (const seq of seqs) {
    const manifest = await opened.readManifest(seq).catch((error: Error) => {
      if (error.message.includes('ENOENT') || error.message.includes('not found')) return undefined;
      throw error;
    });
    if (!manifest) continue; // pruned meanwhile
    expect(manifest.ranks, `checkpoint #${seq}`).toBe(2);
    expect(manifest.entries.map((e) => [e.rank, e.type === 'blob' ? e.key : e.path]).sort()).toEqual([
      [0, 'state-0.bin'],
      [1, 'state-1.bin'],
    ]);
  }
  return seqs.length;
}

describeNeeds('an MPI job under ckpt run -- mpirun', MPI, () => {
  let reference = '';

  let build = '';
  beforeAll(() => {
    // Not a tempDir(): those are removed after each test, and the binary serves all of them.
    build = mkdtempSync(join(tmpdir(), 'ckpt-mpi-build-'));
    binary = join(build, 'ranks');
    const cc = spawnSync(
      'mpicc',
      ['-O2', '-o', binary, join(REPO_ROOT, 'examples', 'mpi', 'ranks.c'), '-lm'],
      {
        encoding: 'utf8',
      },
    );
    expect(cc.status, cc.stderr).toBe(0);
    const work = tempDir();
    const run = spawnSync('mpirun', ['-np', '2', binary, '--steps', String(STEPS), '--every', '100000'], {
      cwd: work,
      env: mpiEnv(),
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).toBe(0);
    reference = readFileSync(join(work, 'result.txt'), 'utf8');
  });
  afterAll(() => rmSync(build, { recursive: true, force: true }));

  it('survives 10 SIGKILLs of one rank: the same result, never a checkpoint without a rank, no rank left', async () => {
    const work = tempDir();
    const store = join(tempDir(), 'store');
    const random = seeded(SEED);
    const run = startCkpt(
      [
        '--store',
        store,
        'run',
        '--max-restarts',
        '40',
        '--backoff',
        '0.05s',
        '--max-backoff',
        '0.2s',
        '--',
        ...job(40),
      ],
      { cwd: work, env: mpiEnv() },
    );
    const seed = `(replay with CKPT_TEST_SEED=${SEED})`;
    let kills = 0;
    for (let seen = 0; kills < 10; ) {
      await waitFor(() => starts(work).length > seen, 'the next start of the job', {
        timeoutMs: 60_000,
        explain: () => `${run.output().stderr.slice(-3000)} ${seed}`,
      });
      seen = starts(work).length;
      await sleep(300 + random() * 1200);
      const ranks = ranksIn(work);
      if (ranks.length < 2) continue; // between segments
      process.kill(ranks[Math.floor(random() * ranks.length)]!, 'SIGKILL');
      kills++;
      await waitFor(() => ranksIn(work).length === 0, 'the job to end after a rank was killed', {
        timeoutMs: 30_000,
      });
      await checkComplete(store);
    }
    const end = await run.exited;
    expect(end.code, `${end.stderr.slice(-3000)} ${seed}`).toBe(0);
    expect(readFileSync(join(work, 'result.txt'), 'utf8'), seed).toBe(reference);
    expect(await checkComplete(store)).toBeGreaterThan(0);
    // The restarts resumed from checkpoints, not from the beginning.
    const from = starts(work);
    expect(from.length, seed).toBeGreaterThanOrEqual(11);
    expect(from.filter((s) => s > 0).length, `${from.join(',')} ${seed}`).toBeGreaterThanOrEqual(8);
    expect(end.stderr.match(/restart \d+\/40/g)?.length, seed).toBeGreaterThanOrEqual(10);
    expect(ranksIn(work)).toEqual([]);
  }, 240_000);

  it('checkpoints every rank on SIGTERM, through mpirun, and resumes there in a new ckpt run', async () => {
    const work = tempDir();
    const store = join(tempDir(), 'store');
    const args = ['--store', store, 'run', '--', ...job(100_000)];
    const first = startCkpt(args, { cwd: work, env: mpiEnv() });
    await waitFor(() => starts(work).length === 1 && ranksIn(work).length === 2, 'the job to run', {
      timeoutMs: 60_000,
      explain: () =>
        `starts ${starts(work).join(',')}, ranks ${ranksIn(work).join(',')}: ${first.output().stderr}`,
    });
    await sleep(1500);
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    expect(stopped.stderr).toContain('asking the program to checkpoint');
    expect(stopped.stderr).toMatch(/stopped \(SIGTERM/);
    expect(ranksIn(work)).toEqual([]);
    // The checkpoint ckpt asked for (SIGUSR2), and maybe one more when mpirun passed on ckpt's
    // SIGTERM to ranks that still had time to write it.
    expect(await checkComplete(store)).toBeGreaterThanOrEqual(1);
    const newest = (await (await Store.open(store)).newestManifest())!;
    const saved = newest.step;
    expect(saved).toBeGreaterThan(0);
    const second = await startCkpt(args, { cwd: work, env: mpiEnv() }).exited;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming from checkpoint #${newest.seq} (step ${saved})`);
    expect(starts(work)).toEqual([0, saved]);
    expect(readFileSync(join(work, 'result.txt'), 'utf8')).toBe(reference);
  }, 120_000);
});
