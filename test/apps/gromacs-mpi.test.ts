/**
 * GROMACS with 2 thread-MPI ranks (`gmx mdrun -ntmpi 2 -ntomp 1`: domain decomposition 2 x 1 x 1)
 * under `ckpt run --app gromacs`: stopped by a SIGTERM to ckpt and resumed, and mdrun SIGKILLed
 * and restarted by ckpt. Each run ends bitwise identical to an uninterrupted run with the same
 * two ranks (energies, full-precision frames, final structure). `-reprod -dlb no` keep the
 * decomposition and the summation order the same between starts.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { useAppRuns } from '../helpers/app-runs.js';
import { expectSameResults, type GromacsReference, RESULTS } from '../helpers/gromacs.js';
import { describeNeeds, GROMACS } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/repo.js';

const MDRUN = ['gmx', 'mdrun', '-deffnm', 'md', '-ntmpi', '2', '-ntomp', '1', '-reprod', '-dlb', 'no'];
const TIMEOUT = 240_000;

describeNeeds('GROMACS with 2 thread-MPI ranks under ckpt run --app gromacs', GROMACS, () => {
  let prepared = '';
  const runs = useAppRuns<GromacsReference>({
    prefix: 'ckpt-gromacs-mpi-',
    comm: 'gmx',
    command: MDRUN,
    runOptions: ['--app', 'gromacs', '--every', '0.05m'],
    prepare: (cwd) => copyFileSync(join(prepared, 'md.tpr'), join(cwd, 'md.tpr')),
    reference: (cwd) => ({ files: new Map(RESULTS.map((f) => [f, readFileSync(join(cwd, f))])) }),
    timeoutMs: TIMEOUT,
  });

  beforeAll(() => {
    prepared = mkdtempSync(join(tmpdir(), 'ckpt-gromacs-mpi-tpr-'));
    const r = spawnSync('bash', [join(REPO_ROOT, 'examples', 'gromacs', 'prepare.sh'), prepared], {
      encoding: 'utf8',
    });
    expect(r.status, `prepare.sh failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  });
  afterAll(() => {
    if (prepared) rmSync(prepared, { recursive: true, force: true });
  });

  runs.itRuns(
    'SIGTERM to ckpt: both ranks checkpoint, ckpt exits 75; the same command resumes and ends identical',
    async (ref, first) => {
      const { context, w } = await runs.stopThenResume(first, (_stopped, stopContext, used) => {
        expect(readFileSync(join(used.cwd, 'md.log'), 'utf8'), stopContext).toContain(
          'Domain decomposition grid 2 x 1 x 1',
        );
      });
      expectSameResults(w.cwd, ref, context);
    },
  );

  runs.itRuns(
    'mdrun SIGKILLed at a random moment: ckpt restarts it from the last captured checkpoint; ends identical',
    async (ref, first) => {
      const { context, w } = await runs.killThenRestart(first, 60_000);
      expectSameResults(w.cwd, ref, context);
    },
  );
});
