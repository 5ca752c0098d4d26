/**
 * LAMMPS under `ckpt run --app lammps`, end to end with the real `lmp` (Debian package
 * `lammps`), through the shared scenarios of test/helpers/app-conformance.ts: the example input
 * examples/lammps/in.melt (6912 LJ atoms, 4000 steps) runs once bare as the reference, then
 * under ckpt (b) stopped by a SIGTERM to ckpt (LAMMPS has no
 * handler: ckpt's stop file ends the run through `fix halt`, the input writes a final restart
 * file) and resumed, (c) with lmp SIGKILLed and restarted by ckpt, (d) after a crash that left a
 * torn newest restart file (which `read_restart ckpt/melt.*.restart` would pick and die on).
 * Every run must end bitwise identical to the reference: the final data file (every digit) and
 * every thermo line (printed with 15 significant digits). Run `npm run build` first.
 * Without lmp these tests are skipped, except under CI, where that fails them.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { describeConformance } from '../helpers/app-conformance.js';
import { type TornCheckpoint, useAppRuns } from '../helpers/app-runs.js';
import { describeNeeds, LAMMPS } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/repo.js';

const INPUT = join(REPO_ROOT, 'examples', 'lammps', 'in.melt');
const LMP = ['lmp', '-in', 'in.melt'];
const TIMEOUT = 240_000;

interface Reference {
  data: Buffer;
  /** Thermo lines by step. */
  thermo: Map<number, string>;
}

/** Thermo lines (Step Temp E_pair E_mol TotEng Press) in LAMMPS output, by step. */
function thermoLines(output: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const line of output.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length !== 6 || !/^\d+$/.test(words[0]!)) continue;
    if (!words.slice(1).every((w) => /^-?\d[\d.]*(e[-+]\d+)?$/i.test(w))) continue;
    out.push([Number(words[0]), words.join(' ')]);
  }
  return out;
}

describeNeeds('LAMMPS under ckpt run --app lammps', LAMMPS, () => {
  const runs = useAppRuns<Reference>({
    prefix: 'ckpt-lammps-',
    comm: 'lmp',
    command: LMP,
    runOptions: ['--app', 'lammps'],
    env: { OMP_NUM_THREADS: '1' },
    prepare: (cwd) => copyFileSync(INPUT, join(cwd, 'in.melt')),
    reference: (cwd, bare) => ({
      data: readFileSync(join(cwd, 'final.data')),
      thermo: new Map(thermoLines(bare.output)),
    }),
    timeoutMs: TIMEOUT,
  });
  // The step `fix halt` stopped at in (b): the resume must start there.
  let haltStep = -1;
  describeConformance(runs, {
    app: 'lmp',
    stopsBy: 'the stop file halts the run (fix halt)',
    reference(ref) {
      expect([...ref.thermo.keys()]).toEqual(Array.from({ length: 41 }, (_, i) => i * 100));
      expect(ref.data.toString('latin1', 0, 80)).toContain('timestep = 4000');
    },
    stopped(halt, w, context) {
      const halted = /Fix halt condition for fix-id ckpt_halt met on step (\d+)/.exec(halt.stdout);
      expect(halted, context).not.toBeNull();
      haltStep = Number(halted![1]);
      expect(haltStep % 10, context).toBe(0);
      // The final restart file at the halt step was captured: the resume starts there.
      expect(existsSync(join(w.cwd, `ckpt/melt.${haltStep}.restart`)), context).toBe(true);
      expect(existsSync(join(w.cwd, 'final.data')), 'final.data after a stop').toBe(false);
    },
    resumedAfterStop(_ref, resumed, _w, context) {
      expect(resumed.stderr, context).toMatch(
        new RegExp(`ckpt: resuming from checkpoint #\\d+ \\(step ${haltStep}\\)`),
      );
      expect(thermoLines(resumed.stdout)[0]?.[0], 'the resumed run starts at the halt step').toBe(haltStep);
    },
    restartedAfterKill(_ref, done, _w, context) {
      expect(done.stderr, context).toMatch(/ckpt: resuming from checkpoint #\d+ \(step [1-9]\d*000\)/);
      expect(done.stdout, context).not.toMatch(/ERROR/);
    },
    resumedAfterCrash(_ref, resumed, _w, context) {
      expect(resumed.stdout, context).not.toMatch(/Unexpected end of|ERROR/);
    },
    captureTimeoutMs: 90_000,
    torn: TORN_RESTART,
    sameResult: (ref, w, output, context) => expectSameResults(w.cwd, ref, output, context),
  });
});

/** A crash tears the newest restart file in half; LAMMPS' own wildcard picks it and dies. */
const TORN_RESTART: TornCheckpoint & { what: string } = {
  what: 'newest restart file',
  finalFile: 'final.data',
  tear(cwd) {
    const restarts = readdirSync(join(cwd, 'ckpt'))
      .map((f) => ({ f, step: Number(/^melt\.(\d+)\.restart$/.exec(f)?.[1] ?? -1) }))
      .sort((a, b) => a.step - b.step);
    const torn = join(cwd, 'ckpt', restarts.at(-1)!.f);
    truncateSync(torn, Math.floor(statSync(torn).size / 2));
    return torn;
  },
  restart: [...LMP, '-var', 'ckpt_resume', '1', '-var', 'ckpt_restart', 'ckpt/melt.*.restart'],
  failure: /Unexpected end of/,
};

/**
 * final.data equals the reference byte for byte, and every thermo line the runs printed for a
 * step the reference printed is the reference's line (segments overlap after a crash: each
 * repeated line must match too), with none missing from the first step printed on.
 */
function expectSameResults(cwd: string, ref: Reference, output: string, context: string): void {
  const path = join(cwd, 'final.data');
  expect(existsSync(path), `final.data missing\n${context}`).toBe(true);
  const data = readFileSync(path);
  if (!data.equals(ref.data)) {
    const a = data.toString().split('\n');
    const b = ref.data.toString().split('\n');
    const i = a.findIndex((line, n) => line !== b[n]);
    expect.fail(`final.data differs at line ${i + 1}:\n${a[i]}\nreference:\n${b[i]}\n${context}`);
  }
  const lines = thermoLines(output);
  expect(lines.length, `no thermo output\n${context}`).toBeGreaterThan(0);
  const seen = new Set<number>();
  for (const [step, line] of lines) {
    const want = ref.thermo.get(step);
    if (want === undefined) continue; // a halt or restart step the reference did not print
    expect(line, `thermo at step ${step}\n${context}`).toBe(want);
    seen.add(step);
  }
  // From the first step these runs printed on, none of the reference's lines is missing.
  const from = Math.min(...lines.map(([step]) => step));
  const missing = [...ref.thermo.keys()].filter((step) => step >= from && !seen.has(step));
  expect(missing, `thermo lines missing\n${context}`).toEqual([]);
}
