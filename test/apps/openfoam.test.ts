/**
 * `ckpt run --app openfoam` with the real icoFoam (Debian's OpenFOAM v1912) on the lid-driven
 * cavity of examples/openfoam/cavity (~20–40 s uninterrupted), through the shared scenarios of
 * test/helpers/app-conformance.ts (a graceful stop of ckpt at a random moment and a resume, a
 * SIGKILL of the solver after a capture, a node crash and a torn newest time directory) and two
 * of its own (the newest time directory torn as the solver is killed while writing it, with and
 * without an earlier checkpoint): all end with final fields byte-equal to an uninterrupted
 * run's (binary writeFormat). Also `ckpt doctor --app openfoam`.
 * Needs icoFoam and blockMesh (skipped without them, except under CI, where that fails).
 */
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeConformance } from '../helpers/app-conformance.js';
import { useAppRuns } from '../helpers/app-runs.js';
import { childNamed } from '../helpers/app-scenario.js';
import { cleanEnv, killLeftoverCkpts, runCkpt, startCkpt } from '../helpers/cli.js';
import { describeNeeds, OPENFOAM } from '../helpers/needs.js';
import { runProgram } from '../helpers/program.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait-for.js';

const CASE = join(REPO_ROOT, 'examples', 'openfoam', 'cavity');
const FOAM_ENV = { WM_PROJECT_DIR: '/usr/share/openfoam' };
const END_TIME = '0.1';
const FIELDS = ['U', 'p', 'phi'];
const CASE_TIMEOUT = 150_000;

/** Runs a program to its end without blocking the event loop. */
const run = (cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv) =>
  runProgram([cmd, ...args], { cwd, env });

/** Time directories of a case (not `0`), newest first. */
function times(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name !== '0' && /^[0-9.eE+-]+$/.test(name) && statSync(join(dir, name)).isDirectory())
    .sort((a, b) => Number(b) - Number(a));
}

function finalFields(dir: string): Record<string, Buffer> {
  expect(times(dir)[0], `newest time directory in ${dir}`).toBe(END_TIME);
  return Object.fromEntries(FIELDS.map((f) => [f, readFileSync(join(dir, END_TIME, f))]));
}

function expectSameFields(dir: string, reference: Record<string, Buffer> | undefined, note = ''): void {
  expect(reference, 'the reference run (first test) must have passed').toBeDefined();
  const got = finalFields(dir);
  for (const f of FIELDS) {
    expect(
      got[f]!.equals(reference![f]!),
      `${END_TIME}/${f} differs from the uninterrupted run ${note}`,
    ).toBe(true);
  }
}

describeNeeds('ckpt run --app openfoam (icoFoam)', OPENFOAM, () => {
  const tempDir = useTempDirs('ckpt-openfoam-');
  let template = '';
  const runs = useAppRuns<{ fields: Record<string, Buffer> }>({
    prefix: 'ckpt-openfoam-run-',
    comm: 'icoFoam',
    command: ['icoFoam'],
    runOptions: ['--app', 'openfoam'],
    env: FOAM_ENV,
    prepare: (cwd) => cpSync(template, cwd, { recursive: true }),
    reference: (cwd) => ({ fields: finalFields(cwd) }),
    timeoutMs: CASE_TIMEOUT,
  });
  // The newest time directory after (b)'s stop: the resume starts there.
  let stoppedAt: string | undefined;
  describeConformance(runs, {
    app: 'icoFoam',
    stopsBy: 'the solver writes the current time (stopAtWriteNowSignal)',
    stopped(stopped, w, context) {
      expect(stopped.stdout, context).not.toMatch(/FOAM FATAL/);
      stoppedAt = times(w.cwd)[0];
      expect(stoppedAt, `a time directory after the stop ${context}`).toBeDefined();
      expect(Number(stoppedAt)).toBeLessThan(Number(END_TIME));
    },
    resumedAfterStop(_ref, resumed, _w, context) {
      expect(resumed.stderr, context).toContain(`(step ${stoppedAt})`);
    },
    restartedAfterKill(_ref, done, _w, context) {
      expect(done.stdout, context).not.toMatch(/FOAM FATAL/);
    },
    captureTimeoutMs: 90_000,
    torn: {
      what: 'newest time directory',
      finalFile: `${END_TIME}/U`,
      tear(cwd) {
        // U removed, p cut in half.
        const newest = join(cwd, times(cwd)[0]!);
        rmSync(join(newest, 'U'), { force: true });
        const p = join(newest, 'p');
        if (existsSync(p)) truncateSync(p, Math.floor(statSync(p).size / 2));
        else writeFileSync(p, 'FoamFile\n{\n');
        return newest;
      },
      restart: ['icoFoam'],
      failure: /FOAM FATAL|cannot find file/,
    },
    sameResult: (ref, w, _output, context) => expectSameFields(w.cwd, ref.fields, context),
  });

  beforeAll(async () => {
    requireBuild();
    // One meshed case, copied for every run.
    template = mkdtempSync(join(tmpdir(), 'ckpt-openfoam-case-'));
    cpSync(CASE, template, { recursive: true });
    const mesh = await run('sh', ['prepare.sh'], template, cleanEnv(FOAM_ENV));
    expect(mesh.code, mesh.output).toBe(0);
  });
  afterAll(() => {
    if (template) rmSync(template, { recursive: true, force: true });
  });
  afterEach(killLeftoverCkpts);

  const newCase = (): string => {
    const dir = join(tempDir(), 'cavity');
    cpSync(template, dir, { recursive: true });
    return dir;
  };
  const ckptArgs = (store: string, ...options: string[]): string[] => [
    '--store',
    store,
    'run',
    '--app',
    'openfoam',
    ...options,
    '--',
    'icoFoam',
  ];

  /** A fresh copy of the case and a store for a run under ckpt. */
  const caseRun = (): { dir: string; store: string } => ({ dir: newCase(), store: join(tempDir(), 'store') });

  /**
   * Kills icoFoam the moment time directory `time` appears (likely while it is being written),
   * then, before ckpt restarts it, tears that directory for sure: U removed, p cut in half.
   */
  async function tornRun(time: string): Promise<{ dir: string; stderr: string; stdout: string }> {
    const { dir, store } = caseRun();
    const run = startCkpt(ckptArgs(store, '--max-restarts', '5', '--backoff', '3s'), { cwd: dir });
    await waitFor(() => existsSync(join(dir, time)), `time directory ${time}`, {
      timeoutMs: 60_000,
      everyMs: 2,
    });
    const pid = childNamed(run.pid, 'icoFoam');
    expect(pid, 'icoFoam running').toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await waitFor(
      () => /the program crashed \(killed by SIGKILL\)/.test(run.output().stderr),
      'ckpt to notice the kill',
      { timeoutMs: 15_000 },
    );
    const newest = times(dir)[0];
    expect(newest).toBe(time);
    rmSync(join(dir, time, 'U'), { force: true });
    const p = join(dir, time, 'p');
    if (existsSync(p)) truncateSync(p, Math.floor(statSync(p).size / 2));
    else writeFileSync(p, 'FoamFile\n{\n');
    const end = await run.exited;
    expect(end.code, end.stderr).toBe(0);
    expect(end.stdout).not.toMatch(/cannot find file|FOAM FATAL/);
    expect(end.stderr).toMatch(/restart 1\/5/);
    expect(end.stderr).not.toMatch(/restart 2\/5/);
    return { dir, stderr: end.stderr, stdout: end.stdout };
  }

  it(
    'a torn newest time directory after a crash is set aside: icoFoam resumes from the last complete one',
    async () => {
      // 0.02 has been captured by the time 0.04 appears (time directories come ~4 s apart).
      const { dir, stderr } = await tornRun('0.04');
      expect(stderr).toMatch(/resuming from checkpoint #\d+ \(step 0\.02\)/);
      expect(stderr).toMatch(/set aside \d+ newer file\(s\) into \.ckpt-aside\//);
      expect(readdirSync(join(dir, '.ckpt-aside')).length).toBeGreaterThan(0);
      expectSameFields(dir, (await runs.uninterrupted()).fields);
    },
    CASE_TIMEOUT,
  );

  it(
    'a torn first time directory (crash before any checkpoint) is set aside too: icoFoam starts over',
    async () => {
      const { dir, stderr } = await tornRun('0.02');
      expect(stderr).not.toMatch(/resuming from checkpoint/);
      expect(stderr).toContain('set aside the incomplete time directory 0.02/');
      const aside = join(dir, '.ckpt-aside');
      expect(readdirSync(aside).some((stamp) => existsSync(join(aside, stamp, '0.02')))).toBe(true);
      expectSameFields(dir, (await runs.uninterrupted()).fields);
    },
    CASE_TIMEOUT,
  );

  describe('ckpt doctor --app openfoam', () => {
    interface Finding {
      severity: string;
      code: string;
    }
    const doctor = (dir: string): { status: number | null; findings: Finding[] } => {
      const r = runCkpt(['doctor', '--app', 'openfoam', '--json', '--', 'icoFoam'], { cwd: dir });
      return { status: r.code, findings: (JSON.parse(r.stdout) as { findings: Finding[] }).findings };
    };
    const withControl = (edit: (text: string) => string): string => {
      const dir = join(tempDir(), 'case');
      cpSync(CASE, dir, { recursive: true });
      const path = join(dir, 'system', 'controlDict');
      writeFileSync(path, edit(readFileSync(path, 'utf8')));
      return dir;
    };

    it('passes the example case', () => {
      const { status, findings } = doctor(CASE);
      expect(status).toBe(0);
      expect(findings.map((f) => `${f.severity} ${f.code}`)).toEqual(['ok INSTALLED']);
    });

    it('fails `startFrom startTime` (FOAM_START_FROM, exit 1)', () => {
      const dir = withControl((t) => t.replace(/startFrom\s+latestTime;/, 'startFrom       startTime;'));
      const { status, findings } = doctor(dir);
      expect(status).toBe(1);
      expect(findings).toContainEqual(
        expect.objectContaining({ severity: 'error', code: 'FOAM_START_FROM' }),
      );
    });

    it('warns about ascii with 6 digits (FOAM_ASCII)', () => {
      const dir = withControl((t) => t.replace(/writeFormat\s+binary;/, 'writeFormat     ascii;'));
      const { status, findings } = doctor(dir);
      expect(status).toBe(0);
      expect(findings).toContainEqual(expect.objectContaining({ severity: 'warning', code: 'FOAM_ASCII' }));
    });
  });
});
