/**
 * NWChem under `ckpt run --app nwchem`, end to end with the real `nwchem` (Debian's 7.0.2):
 * examples/nwchem/methanol-opt.nw optimizes methanol's geometry (B3LYP/6-31G*, converged
 * tightly, 7 driver steps), through the shared scenarios of test/helpers/app-conformance.ts:
 * the bare run is the reference; (b) a SIGTERM to ckpt aborts nwchem (it has no graceful stop)
 * and the same command resumes from the last capture of its permanent files, with a `restart`
 * copy of the input; (c) nwchem SIGKILLed after a capture is restarted by ckpt; (d) after a crash
 * of the node the orbitals file is torn (nwchem itself then fails, shown on a copy): the restore
 * sets it aside. Each must end at the reference's final energy and geometry, within 1e-6
 * Hartree and 1e-4 Å (what each run measured is printed). Run `npm run build` first. Without
 * nwchem these tests are skipped, except under CI, where that fails them.
 */
import { copyFileSync, existsSync, mkdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { describeConformance } from '../helpers/app-conformance.js';
import { useAppRuns } from '../helpers/app-runs.js';
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

  describeConformance(runs, {
    app: 'nwchem',
    stopsBy: 'nwchem is aborted (it has no graceful stop)',
    reference(ref) {
      expect(ref.positions.length).toBe(6);
      expect(ref.steps).toBeGreaterThanOrEqual(4);
      console.log(`[nwchem] ${ref.steps} driver steps, final energy ${ref.energy} Ha`);
    },
    stopped(stopped, _w, context) {
      expect(finalResult(stopped.stdout), `a stopped run has no final result\n${context}`).toBeUndefined();
    },
    resumedAfterStop(_ref, resumed, w, context) {
      // It resumed the optimization from the database, with the restart copy of the input.
      expect(existsSync(join(w.cwd, '.ckpt-nwchem', 'methanol-opt.nw'))).toBe(true);
      expect(lastStart(resumed.stdout), context).toMatch(RESTARTED);
    },
    restartedAfterKill(_ref, done, _w, context) {
      expect(lastStart(done.stdout), context).toMatch(RESTARTED);
    },
    resumedAfterCrash(_ref, resumed, _w, context) {
      expect(lastStart(resumed.stdout), context).toMatch(RESTARTED);
    },
    captureTimeoutMs: 120_000,
    nothingOnStop: true,
    torn: {
      what: 'orbitals file (.movecs)',
      tear(cwd) {
        const movecs = join(cwd, 'perm', 'methanol.movecs');
        truncateSync(movecs, Math.floor(statSync(movecs).size / 2));
        return movecs;
      },
      // NWChem itself, restarted on the torn file, fails to read it.
      restart: [
        'sh',
        '-c',
        "sed 's/^start /restart /' methanol-opt.nw > restart.nw && exec nwchem restart.nw",
      ],
      failure: /ssread: error reading from unit/,
    },
    sameResult: (ref, _w, output, context) => expectSameResult(output, ref, context),
  });
});
