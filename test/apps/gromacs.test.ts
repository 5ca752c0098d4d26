/**
 * GROMACS under `ckpt run --app gromacs`, end to end with the real `gmx mdrun` (Debian package
 * `gromacs`): the example in examples/gromacs (884 SPC/E waters, 6000 steps on one thread) runs
 * once bare as the reference, then under ckpt (b) stopped by a SIGTERM to ckpt and resumed,
 * (c) with mdrun SIGKILLed and restarted by ckpt, (d) after a crash that left a torn md.cpt.
 * Every run must end bitwise identical to the reference: the energy file, the full-precision
 * trajectory frames and the final structure. Run `npm run build` first (the CLI runs from dist/).
 * Without gmx these tests are skipped, except under CI, where that fails them.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  crashNodeAfterSecondCapture,
  killAppAfterFirstCapture,
  sigtermCkptAfter,
} from '../helpers/app-scenario.js';
import { type CkptChild, ckptJson, cleanEnv, killLeftoverCkpts, startCkpt } from '../helpers/cli.js';
import { describeNeeds, GROMACS } from '../helpers/needs.js';
import { runProgram } from '../helpers/program.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const EXAMPLE = join(REPO_ROOT, 'examples', 'gromacs');
const MDRUN = ['gmx', 'mdrun', '-deffnm', 'md', '-nt', '1'];
/** What must come out bitwise identical: energies, full-precision x/v frames, final structure. */
const RESULTS = ['md.edr', 'md.trr', 'md.gro'];
const TIMEOUT = 240_000;

interface Reference {
  files: Map<string, Buffer>;
  ms: number;
}

describeNeeds('GROMACS under ckpt run --app gromacs', GROMACS, () => {
  let prepared = '';
  let reference: Promise<Reference> | undefined;
  const tempDir = useTempDirs('ckpt-gromacs-');

  beforeAll(() => {
    requireBuild();
    prepared = mkdtempSync(join(tmpdir(), 'ckpt-gromacs-tpr-'));
    const r = spawnSync('bash', [join(EXAMPLE, 'prepare.sh'), prepared], { encoding: 'utf8' });
    expect(r.status, `prepare.sh failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  });
  afterAll(() => {
    if (prepared) rmSync(prepared, { recursive: true, force: true });
  });
  afterEach(() => killLeftoverCkpts());

  /** A fresh working directory holding md.tpr, and the environment with its own store. */
  function workspace(): { cwd: string; store: string; env: NodeJS.ProcessEnv } {
    const cwd = tempDir();
    copyFileSync(join(prepared, 'md.tpr'), join(cwd, 'md.tpr'));
    const store = join(tempDir(), 'store');
    return { cwd, store, env: cleanEnv({ CKPT_STORE: store }) };
  }

  /** The uninterrupted, bare run (no ckpt): computed once, shared by the tests. */
  function uninterrupted(): Promise<Reference> {
    reference ??= (async () => {
      const w = workspace();
      const started = Date.now();
      const done = await runBare(MDRUN, w.cwd);
      const ms = Date.now() - started;
      expect(done.code, `bare gmx mdrun failed:\n${done.output}`).toBe(0);
      const files = new Map(RESULTS.map((f) => [f, readFileSync(join(w.cwd, f))]));
      return { files, ms };
    })();
    return reference;
  }

  const ckptRun = (w: { cwd: string; env: NodeJS.ProcessEnv }, options: string[]): CkptChild =>
    startCkpt(['run', '--app', 'gromacs', '--every', '0.1m', ...options, '--', ...MDRUN], {
      cwd: w.cwd,
      env: w.env,
    });

  it(
    '(a) the bare run finishes and is the reference',
    async () => {
      const ref = await uninterrupted();
      for (const f of RESULTS) expect(ref.files.get(f)!.length, f).toBeGreaterThan(0);
      // One frame at step 0 and one at the last step, each with coordinates and velocities.
      expect(ref.ms).toBeGreaterThan(3_000);
    },
    TIMEOUT,
  );

  it(
    '(b) SIGTERM to ckpt at a random moment: mdrun checkpoints, ckpt exits 75; the same command resumes and ends identical',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      const delay = Math.round(ref.ms * (0.15 + 0.55 * Math.random()));
      const stopped = await sigtermCkptAfter(ckptRun(w, ['--grace', '30s']), delay);
      const context = `SIGTERM after ${delay} ms\n${stopped.stderr}`;
      expect(stopped.code, context).toBe(75);
      expect(stopped.stderr, context).toMatch(/ckpt: stopped \(SIGTERM received/);
      // mdrun handled the TERM itself (one signal only: a second one gives a non-bitwise checkpoint).
      expect(readFileSync(join(w.cwd, 'md.log'), 'utf8'), context).toContain('Received the TERM signal');
      expect(readFileSync(join(w.cwd, 'md.log'), 'utf8'), context).not.toContain('Received the second');
      expect(existsSync(join(w.cwd, 'md.gro')), 'mdrun wrote its final structure after a stop').toBe(false);

      const resumed = await ckptRun(w, ['--grace', '30s']).exited;
      const context2 = `${context}\n--- resumed ---\n${resumed.stderr}`;
      expect(resumed.code, context2).toBe(0);
      expect(resumed.stderr, context2).toMatch(/ckpt: resuming from checkpoint #\d+/);
      expect(resumed.stderr, context2).toContain('ckpt: the program finished');
      // Appended to the restored outputs, not -noappend part files.
      expect(readFileSync(join(w.cwd, 'md.log'), 'utf8')).toContain('Restarting from checkpoint, appending');
      expect(readdirSync(w.cwd).filter((f) => f.includes('.part'))).toEqual([]);
      expectSameResults(w.cwd, ref, context2);
    },
    TIMEOUT,
  );

  it(
    '(c) mdrun SIGKILLed at a random moment: ckpt restarts it from the last captured checkpoint; ends identical',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      const run = ckptRun(w, ['--max-restarts', '5', '--backoff', '0.2s']);
      const { done, delay } = await killAppAfterFirstCapture(run, 'gmx', ref.ms * 0.2, 60_000);
      const context = `SIGKILL ${delay} ms after the first capture\n${done.stderr}`;
      expect(done.code, context).toBe(0);
      expect(done.stderr, context).toContain('ckpt: the program crashed (killed by SIGKILL); restart 1/5');
      expect(done.stderr, context).toMatch(/ckpt: resuming from checkpoint #\d+/);
      expect(done.stderr, context).toContain('ckpt: the program finished');
      const status = ckptJson<{ state: string; restarts: number }>(['--store', w.store, 'status'], {
        cwd: w.cwd,
      });
      expect(status, context).toMatchObject({ state: 'finished', restarts: 1 });
      expectSameResults(w.cwd, ref, context);
    },
    TIMEOUT,
  );

  it(
    '(d) a crash leaves a torn md.cpt: ckpt sets it aside and resumes from its own copy instead of letting mdrun fail',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      const run = ckptRun(w, []);
      // The node dies: mdrun and ckpt at the same moment, no chance to clean up.
      const crashed = await crashNodeAfterSecondCapture(run, 'gmx');
      expect(existsSync(join(w.cwd, 'md.gro')), 'mdrun finished before the kill').toBe(false);
      const newest = ckptJson<{ checkpoints: { seq: number }[] }>(['--store', w.store, 'ls'], {
        cwd: w.cwd,
      }).checkpoints.at(-1)!.seq;

      const cpt = join(w.cwd, 'md.cpt');
      truncateSync(cpt, Math.floor(readFileSync(cpt).length / 2));
      // Control: mdrun itself cannot restart from that file.
      const control = tempDir();
      cpSync(w.cwd, control, { recursive: true });
      const bare = await runBare([...MDRUN, '-cpi', 'md.cpt'], control);
      expect(bare.code, bare.output).not.toBe(0);
      expect(bare.output).toContain('Checkpoint file corrupted/truncated');

      const resumed = await ckptRun(w, ['--max-restarts', '0']).exited;
      const context = `${crashed.stderr}\n--- after the crash ---\n${resumed.stderr}`;
      expect(resumed.code, context).toBe(0);
      expect(resumed.stderr, context).toMatch(/ckpt: set aside \d+ newer file\(s\)/);
      expect(resumed.stderr, context).toContain(`ckpt: resuming from checkpoint #${newest} `);
      expect(resumed.stderr, context).not.toContain('crashed');
      expect(resumed.stderr, context).not.toContain('Checkpoint file corrupted');
      expect(existsSync(join(w.cwd, '.ckpt-aside')), 'the torn md.cpt was kept aside').toBe(true);
      expectSameResults(w.cwd, ref, context);
    },
    TIMEOUT,
  );

  it(
    '(e) -maxh ends each start early with a checkpoint and exit 0: ckpt exits 75 (not "finished") until the run is done',
    async () => {
      const ref = await uninterrupted();
      const w = workspace();
      // ~7 s per start (mdrun stops at 0.99 of it): the run takes several starts.
      const maxh = ['-maxh', '0.002'];
      const codes: Array<number | null> = [];
      let last: { code: number | null; stderr: string } | undefined;
      const logs: string[] = [];
      while (codes.length < 12 && last?.code !== 0) {
        last = await startCkpt(['run', '--app', 'gromacs', '--every', '0.1m', '--', ...MDRUN, ...maxh], {
          cwd: w.cwd,
          env: w.env,
        }).exited;
        codes.push(last.code);
        logs.push(
          last.stderr
            .split('\n')
            .filter((l) => l.startsWith('ckpt:'))
            .join('\n'),
        );
      }
      const context = `exit codes ${codes.join(' ')}\n${logs.join('\n---\n')}\n${last?.stderr}`;
      expect(codes.at(-1), context).toBe(0);
      expect(codes.length, context).toBeGreaterThanOrEqual(2);
      expect(
        codes.slice(0, -1).every((c) => c === 75),
        context,
      ).toBe(true);
      expect(logs[0], context).toContain('the program stopped with a checkpoint (exit code 0)');
      expect(readFileSync(join(w.cwd, 'md.log'), 'utf8')).toContain('Run time exceeded');
      expectSameResults(w.cwd, ref, context);
    },
    TIMEOUT,
  );
});

/** Runs a command to its end without ckpt; stdout and stderr together. */
const runBare = (command: readonly string[], cwd: string) => runProgram(command, { cwd, env: cleanEnv() });

/** The result files in `cwd` equal the reference's, byte for byte (the energies shown on a mismatch). */
function expectSameResults(cwd: string, ref: Reference, context: string): void {
  for (const f of RESULTS) {
    const path = join(cwd, f);
    expect(existsSync(path), `${f} missing\n${context}`).toBe(true);
    const got = readFileSync(path);
    const want = ref.files.get(f)!;
    if (!got.equals(want)) {
      let detail = `${f}: ${got.length} bytes, reference ${want.length}`;
      if (f === 'md.edr') detail += `\n${firstEnergyDifference(path, want)}`;
      expect.fail(`${detail}\n${context}`);
    }
  }
}

/** The first line where `gmx dump -e` of two energy files differ (a diagnostic). */
function firstEnergyDifference(path: string, reference: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-gromacs-edr-'));
  try {
    const refPath = join(dir, 'ref.edr');
    cpSync(path, join(dir, 'got.edr'));
    writeFileSync(refPath, reference);
    const dump = (p: string): string[] =>
      spawnSync('gmx', ['-quiet', 'dump', '-e', p], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split(
        '\n',
      );
    const a = dump(join(dir, 'got.edr'));
    const b = dump(refPath);
    const i = a.findIndex((line, n) => line !== b[n]);
    return i < 0
      ? 'gmx dump -e shows no difference'
      : `gmx dump -e line ${i}: got\n${a[i]}\nreference\n${b[i]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
