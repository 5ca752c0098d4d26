/**
 * LAMMPS under MPI: `ckpt run --app lammps -- mpirun -np 2 lmp -in in.melt` (Debian's lmp is built
 * with OpenMPI), 3000 steps. A SIGTERM to ckpt stops both ranks through the input's `fix halt`
 * (ckpt's stop file; LAMMPS has no SIGTERM handler) and the same command resumes; then one lmp
 * rank is SIGKILLed: mpirun ends the job and ckpt restarts it from the newest restart file. The
 * final data file equals, byte for byte, that of an uninterrupted run with the same two ranks.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { startCkpt, useCkptRuns } from '../helpers/cli.js';
import { mpiEnv } from '../helpers/mpi.js';
import { describeNeeds, LAMMPS, MPI } from '../helpers/needs.js';
import { isAlive } from '../helpers/procfs.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const { tempDir } = useCkptRuns('ckpt-lammps-mpi-');
const INPUT = join(REPO_ROOT, 'examples', 'lammps', 'in.melt');
const LMP = ['mpirun', '-np', '2', 'lmp', '-in', 'in.melt', '-var', 'total', '3000'];
const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const env = () => mpiEnv({ OMP_NUM_THREADS: '1' });

/** The lmp ranks working in `cwd`. */
function ranksIn(cwd: string): number[] {
  return readdirSync('/proc').flatMap((name) => {
    try {
      const comm = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
      return comm === 'lmp' && readlinkSync(`/proc/${name}/cwd`) === cwd && isAlive(Number(name))
        ? [Number(name)]
        : [];
    } catch {
      return [];
    }
  });
}

const restarts = (cwd: string) =>
  existsSync(join(cwd, 'ckpt')) ? readdirSync(join(cwd, 'ckpt')).filter((f) => f.endsWith('.restart')) : [];

describeNeeds('LAMMPS with 2 MPI ranks under ckpt run --app lammps', [LAMMPS, MPI], () => {
  let reference: Buffer;

  beforeAll(() => {
    const cwd = tempDir();
    copyFileSync(INPUT, join(cwd, 'in.melt'));
    const bare = spawnSync(LMP[0]!, [...LMP.slice(1), '-var', 'ckpt_stop', 'none.stop'], {
      cwd,
      env: env(),
      encoding: 'utf8',
    });
    expect(bare.status, bare.stdout.slice(-2000) + bare.stderr).toBe(0);
    reference = readFileSync(join(cwd, 'final.data'));
  }, 240_000);

  it('stops on SIGTERM, resumes, survives a SIGKILLed rank, and ends identical to the uninterrupted run', async () => {
    const cwd = tempDir();
    copyFileSync(INPUT, join(cwd, 'in.melt'));
    const store = join(tempDir(), 'store');
    const args = ['--store', store, 'run', '--app', 'lammps', '--', ...LMP];
    const random = seeded(SEED);
    const seed = `(replay with CKPT_TEST_SEED=${SEED})`;

    const first = startCkpt(args, { cwd, env: env() });
    await waitFor(() => restarts(cwd).length >= 1 && ranksIn(cwd).length === 2, 'the first restart file', {
      timeoutMs: 120_000,
      explain: () => first.output().stderr,
    });
    await sleep(random() * 1000);
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    expect(stopped.code, `${stopped.stderr} ${seed}`).toBe(75);
    expect(stopped.stdout, seed).toMatch(/Fix halt condition for fix-id ckpt_halt met on step \d+/);
    expect(ranksIn(cwd)).toEqual([]);

    const second = startCkpt(args, { cwd, env: env() });
    await waitFor(
      () => /resuming from checkpoint #\d+/.test(second.output().stderr) && ranksIn(cwd).length === 2,
      'the resumed run',
      {
        timeoutMs: 60_000,
        explain: () => second.output().stderr,
      },
    );
    // Once the resumed run has written its next restart file: work is left, and it resumes from it.
    const before = new Set(restarts(cwd));
    await waitFor(
      () => restarts(cwd).some((f) => !before.has(f)) && ranksIn(cwd).length === 2,
      'a restart file of the resumed run',
      {
        timeoutMs: 120_000,
        explain: () => second.output().stderr,
      },
    );
    await sleep(random() * 500);
    const ranks = ranksIn(cwd);
    expect(ranks, `both ranks still run ${seed}`).toHaveLength(2);
    process.kill(ranks[Math.floor(random() * 2)]!, 'SIGKILL');
    const done = await second.exited;
    expect(done.code, `${done.stderr} ${seed}`).toBe(0);
    expect(done.stderr, seed).toMatch(/the program crashed .*; restart 1\/3/);
    const data = readFileSync(join(cwd, 'final.data'));
    expect(data.equals(reference), `final.data differs from the uninterrupted run's ${seed}`).toBe(true);
    expect(ranksIn(cwd)).toEqual([]);
  }, 300_000);
});
