/**
 * A decomposed OpenFOAM case in parallel: the cavity of examples/openfoam/cavity split in two
 * (decomposePar, `simple` 2 x 1 x 1) and run as `ckpt run --app openfoam -- mpirun -np 2 icoFoam
 * -parallel`. A stop of ckpt reaches both ranks through mpirun (SIGUSR1: write and stop) and the
 * same command resumes; one icoFoam rank SIGKILLed makes mpirun end the job, and ckpt restarts it
 * from the newest time every processor directory holds complete. Both end with every processor's
 * final fields byte-equal to an uninterrupted parallel run's.
 */
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCkpt, useCkptRuns } from '../helpers/cli.js';
import { mpiEnv } from '../helpers/mpi.js';
import { describeNeeds, MPI, OPENFOAM } from '../helpers/needs.js';
import { isAlive } from '../helpers/procfs.js';
import { runProgram } from '../helpers/program.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const { tempDir } = useCkptRuns('ckpt-openfoam-mpi-');
const CASE = join(REPO_ROOT, 'examples', 'openfoam', 'cavity');
const SOLVER = ['mpirun', '-np', '2', 'icoFoam', '-parallel'];
const PROCESSORS = ['processor0', 'processor1'];
const FIELDS = ['U', 'p', 'phi'];
const END_TIME = '0.1';
const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const env = () => mpiEnv({ WM_PROJECT_DIR: '/usr/share/openfoam' });
const DECOMPOSE = `FoamFile
{
    version     2.0;
    format      ascii;
    class       dictionary;
    object      decomposeParDict;
}
numberOfSubdomains 2;
method          simple;
coeffs
{
    n           (2 1 1);
}
// ************************************************************************* //
`;

/** Time directories of one processor, newest first (not `0`). */
function times(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((n) => n !== '0' && /^[0-9.eE+-]+$/.test(n) && statSync(join(dir, n)).isDirectory())
        .sort((a, b) => Number(b) - Number(a))
    : [];
}

/** Every processor's final fields. */
function finalFields(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const p of PROCESSORS) {
    expect(times(join(dir, p))[0], `newest time of ${p}`).toBe(END_TIME);
    for (const f of FIELDS) out.set(`${p}/${f}`, readFileSync(join(dir, p, END_TIME, f)));
  }
  return out;
}

/** The icoFoam ranks working in `dir`. */
function ranksIn(dir: string): number[] {
  return readdirSync('/proc').flatMap((name) => {
    try {
      const ok =
        readFileSync(`/proc/${name}/comm`, 'utf8').trim() === 'icoFoam' &&
        readlinkSync(`/proc/${name}/cwd`) === dir;
      return ok && isAlive(Number(name)) ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

describeNeeds(
  'a decomposed OpenFOAM case under ckpt run --app openfoam -- mpirun -np 2 icoFoam -parallel',
  [OPENFOAM, MPI],
  () => {
    let template = '';
    let reference: Map<string, Buffer>;
    const random = seeded(SEED);
    const seed = `(replay with CKPT_TEST_SEED=${SEED})`;

    beforeAll(async () => {
      template = mkdtempSync(join(tmpdir(), 'ckpt-openfoam-mpi-case-'));
      cpSync(CASE, template, { recursive: true });
      writeFileSync(join(template, 'system', 'decomposeParDict'), DECOMPOSE);
      for (const step of [['sh', 'prepare.sh'], ['decomposePar']]) {
        const r = await runProgram(step, { cwd: template, env: env() });
        expect(r.code, r.output.slice(-2000)).toBe(0);
      }
      const bare = join(tempDir(), 'cavity');
      cpSync(template, bare, { recursive: true });
      const r = await runProgram(SOLVER, { cwd: bare, env: env() });
      expect(r.code, r.output.slice(-2000)).toBe(0);
      reference = finalFields(bare);
    }, 180_000);
    afterAll(() => {
      if (template) rmSync(template, { recursive: true, force: true });
    });

    const newCase = () => {
      const dir = join(tempDir(), 'cavity');
      cpSync(template, dir, { recursive: true });
      return {
        dir,
        args: ['--store', join(tempDir(), 'store'), 'run', '--app', 'openfoam', '--', ...SOLVER],
      };
    };
    const expectSame = (dir: string, note: string) => {
      const got = finalFields(dir);
      for (const [name, bytes] of reference)
        expect(got.get(name)!.equals(bytes), `${name} differs ${note}`).toBe(true);
    };

    it('stops both ranks through mpirun, resumes with the same command, ends identical', async () => {
      const { dir, args } = newCase();
      const first = startCkpt(args, { cwd: dir, env: env() });
      const after = 0.02 + 0.04 * random();
      await waitFor(
        () => Number(times(join(dir, 'processor1'))[0] ?? 0) >= after && ranksIn(dir).length === 2,
        `time ${after}`,
        {
          timeoutMs: 90_000,
          explain: () => first.output().stderr,
        },
      );
      first.child.kill('SIGTERM');
      const stopped = await first.exited;
      expect(stopped.code, `${stopped.stderr} ${seed}`).toBe(75);
      expect(stopped.stdout, seed).toContain('sigStopAtWriteNow : setting up write and stop');
      expect(ranksIn(dir)).toEqual([]);
      const resumed = await startCkpt(args, { cwd: dir, env: env() }).exited;
      expect(resumed.code, `${resumed.stderr} ${seed}`).toBe(0);
      expect(resumed.stderr, seed).toMatch(/ckpt: resuming from checkpoint #\d+ \(step 0\.\d+\)/);
      expectSame(dir, seed);
    }, 180_000);

    it('restarts from the newest time all processors hold after one rank is SIGKILLed; ends identical', async () => {
      const { dir, args } = newCase();
      const run = startCkpt(args, { cwd: dir, env: env() });
      const after = 0.02 + 0.05 * random();
      await waitFor(
        () => Number(times(join(dir, 'processor0'))[0] ?? 0) >= after && ranksIn(dir).length === 2,
        `time ${after}`,
        {
          timeoutMs: 90_000,
          explain: () => run.output().stderr,
        },
      );
      await sleep(random() * 1000);
      const ranks = ranksIn(dir);
      expect(ranks, seed).toHaveLength(2);
      process.kill(ranks[Math.floor(random() * 2)]!, 'SIGKILL');
      const done = await run.exited;
      expect(done.code, `${done.stderr} ${seed}`).toBe(0);
      expect(done.stderr, seed).toMatch(/the program crashed .*; restart 1\/3/);
      expect(done.stderr, seed).toMatch(/ckpt: resuming from checkpoint #\d+ \(step 0\.\d+\)/);
      expectSame(dir, seed);
      expect(ranksIn(dir)).toEqual([]);
    }, 180_000);
  },
);
