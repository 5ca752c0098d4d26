/**
 * NWChem under `ckpt run --app nwchem`, end to end with the real `nwchem` (Debian's 7.0.2):
 * examples/nwchem/methanol-opt.nw optimizes methanol's geometry (B3LYP/6-31G*, converged
 * tightly, 7 driver steps). It runs once bare as the reference, then under ckpt (b) stopped by a SIGTERM to ckpt at a
 * random moment (NWChem has no graceful stop: it is aborted, and the last capture of its
 * permanent files is what the same command resumes, with a `restart` copy of the input), (c)
 * with nwchem SIGKILLed after a capture and restarted by ckpt, (d) after a crash of the node (ckpt
 * and nwchem SIGKILLed together) with the orbitals file then torn: the restore sets it aside.
 * Each must end at the reference's final energy and geometry: within 1e-6 Hartree and 1e-4 Å
 * (what each run measured is printed). Run `npm run build` first. Without nwchem these tests
 * are skipped, except under CI, where that fails them.
 */
import { copyFileSync, existsSync, mkdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { useAppRuns } from '../helpers/app-runs.js';
import { crashNodeAfterSecondCapture } from '../helpers/app-scenario.js';
import { describeNeeds, NWCHEM } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/repo.js';

const INPUT = join(REPO_ROOT, 'examples', 'nwchem', 'methanol-opt.nw');
const COMMAND = ['nwchem', 'methanol-opt.nw'];
const TIMEOUT = 400_000;
/** What nwchem prints when it starts from an existing runtime database. */
const RESTARTED = /^\s*status\s*=\s*restart\s*$/m;

interface Result {
  energy: number;
  /** The final Cartesian coordinates in Å: [x, y, z] per atom. */
  positions: number[][];
  /** Driver steps the last start of nwchem did. */
  steps: number;
}

/** The output of the last start of nwchem in `output`. */
function lastStart(output: string): string {
  return output.slice(output.lastIndexOf('Northwest Computational Chemistry Package'));
}

/** The final energy and geometry of a converged optimization, from nwchem's output. */
function finalResult(output: string): Result | undefined {
  const last = lastStart(output);
  const converged = last.lastIndexOf('Optimization converged');
  if (converged < 0) return undefined;
  const after = last.slice(converged);
  const energy = /^@\s+\d+\s+(-\d+\.\d+)/m.exec(after)?.[1];
  const table =
    /Output coordinates in angstroms[^\n]*\n\s*\n[^\n]*\n[^\n]*\n((?:\s+\d+ \S+\s+[-\d.\s]+\n)+)/.exec(
      after,
    )?.[1];
  if (energy === undefined || table === undefined) return undefined;
  const positions = table
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).slice(3, 6).map(Number));
  const steps = new Set([...last.matchAll(/^@\s+(\d+)\s+-\d/gm)].map((m) => m[1])).size;
  return { energy: Number(energy), positions, steps };
}

function expectSameResult(output: string, ref: Result, context: string): void {
  const got = finalResult(output);
  expect(got, `no converged optimization\n${context}\n${output.slice(-3000)}`).toBeDefined();
  const dE = Math.abs(got!.energy - ref.energy);
  expect(dE, `final energy ${got!.energy} vs ${ref.energy}\n${context}`).toBeLessThan(1e-6);
  expect(got!.positions.length).toBe(ref.positions.length);
  const dx = Math.max(
    ...got!.positions.flatMap((atom, i) => atom.map((x, j) => Math.abs(x - ref.positions[i]![j]!))),
  );
  expect(dx, `final geometry\n${context}`).toBeLessThan(1e-4);
  console.log(`[nwchem] |dE| = ${dE.toExponential(2)} Ha, max |dx| = ${dx.toExponential(2)} Å`);
}

describeNeeds('NWChem under ckpt run --app nwchem', NWCHEM, () => {
  const runs = useAppRuns<Result>({
    prefix: 'ckpt-nwchem-',
    comm: 'nwchem',
    command: COMMAND,
    runOptions: ['--app', 'nwchem'],
    env: { OMP_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
    prepare: (cwd) => {
      copyFileSync(INPUT, join(cwd, 'methanol-opt.nw'));
      mkdirSync(join(cwd, 'perm'));
      mkdirSync(join(cwd, 'scratch'));
    },
    reference: (_cwd, bare) => {
      const result = finalResult(bare.output);
      if (!result)
        throw new Error(`the bare nwchem run printed no converged result:\n${bare.output.slice(-2000)}`);
      return result;
    },
    timeoutMs: TIMEOUT,
  });
  const { itRuns } = runs;

  it(
    '(a) the bare run converges and is the reference',
    async () => {
      const ref = await runs.uninterrupted();
      expect(ref.positions.length).toBe(6);
      expect(ref.steps).toBeGreaterThanOrEqual(4);
      console.log(
        `[nwchem] reference run: ${ref.ms} ms, ${ref.steps} driver steps, final energy ${ref.energy} Ha`,
      );
    },
    TIMEOUT,
  );

  itRuns(
    '(b) SIGTERM to ckpt at a random moment: nwchem is aborted, ckpt exits 75; the same command resumes from the last capture with a restart input and ends at the same result',
    async (ref, w) => {
      const { resumed, context } = await runs.stopThenResume(w, (stopped, stopContext) => {
        expect(
          finalResult(stopped.stdout),
          `a stopped run has no final result\n${stopContext}`,
        ).toBeUndefined();
      });
      // It resumed the optimization from the database, with the restart copy of the input.
      expect(existsSync(join(w.cwd, '.ckpt-nwchem', 'methanol-opt.nw'))).toBe(true);
      expect(lastStart(resumed.stdout), context).toMatch(RESTARTED);
      expectSameResult(resumed.stdout, ref, context);
    },
  );

  itRuns(
    '(c) nwchem SIGKILLed after a capture: ckpt restarts it from there and it ends at the same result',
    async (ref, w) => {
      const { done, context } = await runs.killThenRestart(w, 120_000);
      expect(lastStart(done.stdout), context).toMatch(RESTARTED);
      expectSameResult(done.stdout, ref, context);
    },
  );

  itRuns(
    '(d) the node crashes (ckpt and nwchem SIGKILLed), the orbitals file is then torn: the restore sets it aside and the run ends at the same result',
    async (ref, w) => {
      const crashed = await crashNodeAfterSecondCapture(runs.start(w, []), 'nwchem');
      const movecs = join(w.cwd, 'perm', 'methanol.movecs');
      truncateSync(movecs, Math.floor(statSync(movecs).size / 2));
      const resumed = await runs.start(w, ['--max-restarts', '0']).exited;
      const context = `${crashed.stderr}\n--- after the crash (tore ${movecs}) ---\n${resumed.stderr}`;
      expect(resumed.code, `${context}\n${resumed.stdout.slice(-3000)}`).toBe(0);
      expect(resumed.stderr, context).toMatch(/ckpt: set aside \d+ newer file\(s\)/);
      expect(resumed.stderr, context).toMatch(/ckpt: resuming from checkpoint #\d+/);
      expect(existsSync(join(w.cwd, '.ckpt-aside')), 'the torn file was kept aside').toBe(true);
      expectSameResult(resumed.stdout, ref, context);
    },
  );
});
