/**
 * Quantum ESPRESSO under `ckpt run --app qe`, end to end with the real `pw.x` (Debian's
 * `quantum-espresso` 6.7): examples/qe/si-relax.in relaxes a silicon cell (6 SCF cycles, 5 BFGS
 * steps), through the shared scenarios of test/helpers/app-conformance.ts: the bare run is the
 * reference; (b) a SIGTERM to ckpt at a random moment (ckpt creates `si.EXIT`: pw.x writes its
 * SCF loop's state and exits 2), resumed with `restart_mode = 'restart'`; (c) pw.x SIGKILLed
 * after a capture of its per-step restart data, restarted by ckpt; (d) after a crash of the node
 * `data-file-schema.xml` is torn (pw.x itself then aborts, shown on a copy): the restore sets it
 * aside. Each must end at the reference's final energy and geometry: within 1e-8 Ry and 1e-6
 * alat (measured here: a stop and resume ends with the same printed digits; a kill and restart
 * differed by 3e-10 Ry and 2.5e-7 alat). Run `npm run build` first. Without pw.x these tests are
 * skipped, except under CI, where that fails them.
 */
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { describeConformance } from '../helpers/app-conformance.js';
import { useAppRuns } from '../helpers/app-runs.js';
import { describeNeeds, QE, QE_PSEUDO } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/repo.js';

const INPUT = join(REPO_ROOT, 'examples', 'qe', 'si-relax.in');
const PW = ['pw.x', '-in', 'si-relax.in'];
const TIMEOUT = 300_000;

interface Result {
  energy: number;
  /** The final coordinates, in alat: [x, y, z] per atom. */
  positions: number[][];
  /** SCF cycles the run did (one per ionic step). */
  cycles: number;
}

/** SCF cycles (`!    total energy` lines) done by the last start of pw.x in `output`. */
function cyclesOfLastStart(output: string): number {
  const last = output.slice(output.lastIndexOf('Program PWSCF'));
  return last.split('\n').filter((line) => /^!\s+total energy/.test(line)).length;
}

/** The final energy and coordinates a finished relaxation printed. */
function finalResult(output: string): Result | undefined {
  const energy = /Final energy\s*=\s*(-?\d+\.\d+) Ry/.exec(output)?.[1];
  const block = /Begin final coordinates[\s\S]*?ATOMIC_POSITIONS[^\n]*\n([\s\S]*?)End final coordinates/.exec(
    output,
  )?.[1];
  if (energy === undefined || block === undefined) return undefined;
  const positions = block
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).slice(1, 4).map(Number));
  return { energy: Number(energy), positions, cycles: cyclesOfLastStart(output) };
}

function expectSameResult(output: string, ref: Result, context: string): void {
  const got = finalResult(output);
  expect(got, `no final energy and coordinates\n${context}`).toBeDefined();
  expect(
    Math.abs(got!.energy - ref.energy),
    `final energy ${got!.energy} vs ${ref.energy}\n${context}`,
  ).toBeLessThan(1e-8);
  const deviation = Math.max(
    ...got!.positions.flatMap((atom, i) => atom.map((x, j) => Math.abs(x - ref.positions[i]![j]!))),
  );
  expect(deviation, `final coordinates\n${context}`).toBeLessThan(1e-6);
  console.log(
    `[qe] |dE| = ${Math.abs(got!.energy - ref.energy).toExponential(2)} Ry, max |dx| = ${deviation.toExponential(2)} alat`,
  );
}

describeNeeds('Quantum ESPRESSO under ckpt run --app qe', QE, () => {
  const runs = useAppRuns<Result>({
    prefix: 'ckpt-qe-',
    comm: 'pw.x',
    command: PW,
    runOptions: ['--app', 'qe'],
    env: { OMP_NUM_THREADS: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
    prepare: (cwd) => {
      copyFileSync(INPUT, join(cwd, 'si-relax.in'));
      writeFileSync(join(cwd, 'Si.pz-vbc.UPF'), gunzipSync(readFileSync(QE_PSEUDO)));
    },
    reference: (_cwd, bare) => {
      const result = finalResult(bare.output);
      if (!result) throw new Error(`the bare pw.x run printed no final result:\n${bare.output.slice(-2000)}`);
      return result;
    },
    timeoutMs: TIMEOUT,
  });
  describeConformance(runs, {
    app: 'pw.x',
    stopsBy: 'si.EXIT stops pw.x with its restart data',
    reference(ref) {
      expect(ref.positions.length).toBe(2);
      console.log(`[qe] final energy ${ref.energy} Ry, ${ref.cycles} SCF cycles`);
    },
    stopped(stopped, _w, context) {
      expect(stopped.stdout, context).toMatch(/Program stopped by user request/);
      expect(finalResult(stopped.stdout), 'a stopped run has no final result').toBeUndefined();
    },
    // Each resumed the relaxation, not a fresh one: its last start did fewer SCF cycles.
    // A stop in the first SCF cycle resumes that cycle: all cycles are still to do, but pw.x
    // says it restarted from the SCF loop's state.
    resumedAfterStop: (ref, resumed, _w, context) => {
      const last = resumed.stdout.slice(resumed.stdout.lastIndexOf('Program PWSCF'));
      // The resumed run is checkpointed too: after a resume from a stop in the SCF loop, pw.x
      // holds the restored wavefunctions open the whole run, which once blocked every capture.
      const steps = (last.match(/number of bfgs steps/g) ?? []).length;
      const captures = (resumed.stderr.match(/captured \d+ file\(s\) as checkpoint/g) ?? []).length;
      if (steps >= 3)
        expect(captures, `${steps} ionic steps after the resume\n${context}`).toBeGreaterThanOrEqual(2);
      if (/Calculation restarted from (scf iteration|kpoint|end of k-point loop)/.test(last)) return;
      expectFewerCycles(ref, resumed.stdout, context);
    },
    restartedAfterKill: (ref, done, _w, context) => expectFewerCycles(ref, done.stdout, context),
    resumedAfterCrash: (ref, resumed, _w, context) => expectFewerCycles(ref, resumed.stdout, context),
    captureTimeoutMs: 120_000,
    torn: {
      what: 'data-file-schema.xml',
      tear(cwd) {
        const xml = join(cwd, 'out', 'si.save', 'data-file-schema.xml');
        truncateSync(xml, Math.floor(statSync(xml).size / 2));
        return xml;
      },
      // pw.x itself, restarted on the torn file, aborts.
      restart: [
        'sh',
        '-c',
        "sed \"s/calculation = 'relax'/calculation = 'relax', restart_mode = 'restart'/\" si-relax.in > r.in && exec pw.x -in r.in",
      ],
      failure: /Program aborted/,
    },
    sameResult: (ref, _w, output, context) => expectSameResult(output, ref, context),
  });
});

/** The last start of pw.x did fewer SCF cycles than the whole reference run. */
function expectFewerCycles(ref: Result, output: string, context: string): void {
  expect(cyclesOfLastStart(output), context).toBeLessThan(ref.cycles);
}
