import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import {
  crashNodeAfterSecondCapture,
  killAppAfterFirstCapture,
  sigtermCkptAfter,
} from '../helpers/app-scenario.js';
import { type CkptChild, ckptJson, cleanEnv, killLeftoverCkpts, startCkpt } from '../helpers/cli.js';
import { describeNeeds, LAMMPS } from '../helpers/needs.js';
import { runProgram } from '../helpers/program.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const INPUT = join(REPO_ROOT, 'examples', 'lammps', 'in.melt');
const LMP = ['lmp', '-in', 'in.melt'];
const TIMEOUT = 240_000;

interface Reference {
  data: Buffer;
  /** Thermo lines by step. */
  thermo: Map<number, string>;
  ms: number;
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
  let reference: Promise<Reference> | undefined;
  const tempDir = useTempDirs('ckpt-lammps-');

  beforeAll(() => requireBuild());
  afterEach(() => killLeftoverCkpts());

  /** A fresh working directory holding in.melt, and the environment with its own store. */
  function workspace(): { cwd: string; store: string; env: NodeJS.ProcessEnv } {
    const cwd = tempDir();
    copyFileSync(INPUT, join(cwd, 'in.melt'));
    const store = join(tempDir(), 'store');
    return { cwd, store, env: cleanEnv({ CKPT_STORE: store, OMP_NUM_THREADS: '1' }) };
  }

  /** The uninterrupted, bare run (no ckpt): computed once, shared by the tests. */
  function uninterrupted(): Promise<Reference> {
    reference ??= (async () => {
      const w = workspace();
      const started = Date.now();
      const done = await runBare(LMP, w.cwd);
      const ms = Date.now() - started;
      expect(done.code, `bare lmp failed:\n${done.output}`).toBe(0);
      return {
        data: readFileSync(join(w.cwd, 'final.data')),
        thermo: new Map(thermoLines(done.output)),
        ms,
      };
    })();
    return reference;
  }

  const ckptRun = (w: { cwd: string; env: NodeJS.ProcessEnv }, options: string[]): CkptChild =>
    startCkpt(['run', '--app', 'lammps', ...options, '--', ...LMP], { cwd: w.cwd, env: w.env });

  it(
    '(a) the bare run finishes and is the reference',
    async () => {
      const ref = await uninterrupted();
      expect([...ref.thermo.keys()]).toEqual(Array.from({ length: 41 }, (_, i) => i * 100));
      expect(ref.data.toString('latin1', 0, 80)).toContain('timestep = 4000');
    },
    TIMEOUT,
  );

  it(
    '(b) SIGTERM to ckpt at a random moment: the stop file halts the run, ckpt exits 75; the same command resumes and ends identical',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      const delay = Math.round(ref.ms * (0.15 + 0.55 * Math.random()));
      const stopped = await sigtermCkptAfter(ckptRun(w, ['--grace', '30s']), delay);
      const context = `SIGTERM after ${delay} ms\n${stopped.stderr}\n${stopped.stdout}`;
      expect(stopped.code, context).toBe(75);
      expect(stopped.stderr, context).toMatch(/ckpt: stopped \(SIGTERM received/);
      const halted = /Fix halt condition for fix-id ckpt_halt met on step (\d+)/.exec(stopped.stdout);
      expect(halted, context).not.toBeNull();
      const step = Number(halted![1]);
      expect(step % 10, context).toBe(0);
      // The final restart file at the halt step was captured: the resume starts there.
      expect(existsSync(join(w.cwd, `ckpt/melt.${step}.restart`)), context).toBe(true);
      expect(existsSync(join(w.cwd, 'final.data')), 'final.data after a stop').toBe(false);

      const resumed = await ckptRun(w, ['--grace', '30s']).exited;
      const context2 = `${context}\n--- resumed ---\n${resumed.stderr}`;
      expect(resumed.code, context2).toBe(0);
      expect(resumed.stderr, context2).toMatch(
        new RegExp(`ckpt: resuming from checkpoint #\\d+ \\(step ${step}\\)`),
      );
      expect(resumed.stderr, context2).toContain('ckpt: the program finished');
      expect(thermoLines(resumed.stdout)[0]?.[0], 'the resumed run starts at the halt step').toBe(step);
      expectSameResults(w.cwd, ref, stopped.stdout + resumed.stdout, context2);
    },
    TIMEOUT,
  );

  it(
    '(c) lmp SIGKILLed at a random moment: ckpt restarts it from the newest captured restart file; ends identical',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      const run = ckptRun(w, ['--max-restarts', '5', '--backoff', '0.2s']);
      const { done, delay } = await killAppAfterFirstCapture(run, 'lmp', ref.ms * 0.2, 90_000);
      const context = `SIGKILL ${delay} ms after the first capture\n${done.stderr}`;
      expect(done.code, context).toBe(0);
      expect(done.stderr, context).toContain('ckpt: the program crashed (killed by SIGKILL); restart 1/5');
      expect(done.stderr, context).toMatch(/ckpt: resuming from checkpoint #\d+ \(step [1-9]\d*000\)/);
      expect(done.stderr, context).toContain('ckpt: the program finished');
      expect(done.stdout, context).not.toMatch(/ERROR/);
      const status = ckptJson<{ state: string; restarts: number }>(['--store', w.store, 'status'], {
        cwd: w.cwd,
      });
      expect(status, context).toMatchObject({ state: 'finished', restarts: 1 });
      expectSameResults(w.cwd, ref, done.stdout, context);
    },
    TIMEOUT,
  );

  it(
    '(d) a crash leaves a torn newest restart file: ckpt sets it aside and hands LAMMPS a complete one',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      const run = ckptRun(w, []);
      // The node dies: lmp and ckpt at the same moment, no chance to clean up.
      const crashed = await crashNodeAfterSecondCapture(run, 'lmp');
      expect(existsSync(join(w.cwd, 'final.data')), 'lmp finished before the kill').toBe(false);
      const checkpoints = ckptJson<{ checkpoints: { seq: number; step: number }[] }>(
        ['--store', w.store, 'ls'],
        { cwd: w.cwd },
      );
      const newest = checkpoints.checkpoints.at(-1)!;

      const restarts = readdirSync(join(w.cwd, 'ckpt'))
        .map((f) => ({ f, step: Number(/^melt\.(\d+)\.restart$/.exec(f)?.[1] ?? -1) }))
        .sort((a, b) => a.step - b.step);
      const torn = join(w.cwd, 'ckpt', restarts.at(-1)!.f);
      truncateSync(torn, Math.floor(statSync(torn).size / 2));
      // Control: LAMMPS' own wildcard picks the torn file and dies.
      const control = tempDir();
      cpSync(w.cwd, control, { recursive: true });
      const bare = await runBare(
        [...LMP, '-var', 'ckpt_resume', '1', '-var', 'ckpt_restart', 'ckpt/melt.*.restart'],
        control,
      );
      expect(bare.code, bare.output).not.toBe(0);
      expect(bare.output).toMatch(/Unexpected end of/);

      const resumed = await ckptRun(w, ['--max-restarts', '0']).exited;
      const context = `${crashed.stderr}\n--- after the crash (tore ${torn}) ---\n${resumed.stderr}\n${resumed.stdout}`;
      expect(resumed.code, context).toBe(0);
      expect(resumed.stderr, context).toMatch(/ckpt: set aside \d+ newer file\(s\)/);
      expect(resumed.stderr, context).toContain(
        `ckpt: resuming from checkpoint #${newest.seq} (step ${newest.step})`,
      );
      expect(resumed.stderr, context).not.toContain('crashed');
      expect(resumed.stdout, context).not.toMatch(/Unexpected end of|ERROR/);
      expect(existsSync(join(w.cwd, '.ckpt-aside')), 'the torn file was kept aside').toBe(true);
      expectSameResults(w.cwd, ref, resumed.stdout, context);
    },
    TIMEOUT,
  );
});

/** Runs a command to its end without ckpt; stdout and stderr together. */
const runBare = (command: readonly string[], cwd: string) =>
  runProgram(command, { cwd, env: cleanEnv({ OMP_NUM_THREADS: '1' }) });

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
