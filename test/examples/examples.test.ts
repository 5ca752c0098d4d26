/**
 * The runnable examples under examples/ (Python, C, bash, Node), end to end: each runs once
 * uninterrupted for the reference result, then under `ckpt run` while the test SIGKILLs the
 * program (never ckpt) twice at random moments after it made progress; ckpt must restart it and
 * the final result must equal the reference. Run `npm run build` first (the CLI runs from dist/).
 * A missing python3 or cc skips its tests, except under CI, where it fails them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CkptResult, ckptJson, cleanEnv, killLeftoverCkpts, startCkpt } from '../helpers/cli.js';
import { describeNeeds, type Need, PYTHON3, runs } from '../helpers/needs.js';
import { type ProgramResult, runProgram } from '../helpers/program.js';
import { CLI_BIN, REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const EXAMPLES = join(REPO_ROOT, 'examples');
const TEST_TIMEOUT = 90_000;

const CC: Need = {
  name: 'cc',
  present: runs('cc', '--version'),
  install: 'install gcc (apt-get install gcc)',
};
const BASH: Need = { name: 'bash', present: runs('bash', '--version'), install: 'install bash' };

/** Runs a program to its end, no ckpt run around it. */
async function runPlain(
  command: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<ProgramResult> {
  const done = await runProgram(command, { cwd, env });
  expect(done.code, `${command.join(' ')} failed:\n${done.stdout}\n${done.stderr}`).toBe(0);
  return done;
}

/** The `result: ...` line every example prints last. */
function resultLine(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.startsWith('result: '));
  expect(lines, `no result line in:\n${stdout}`).toHaveLength(1);
  return lines[0]!;
}

/** The parent pid of a live process, or undefined when it is gone (or a zombie). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : Number(fields[1]);
  } catch {
    return undefined;
  }
}

interface Kill {
  pid: number;
  delayMs: number;
}

interface KilledRun extends CkptResult {
  kills: Kill[];
}

/**
 * Runs `ckpt run ARGS -- COMMAND` and SIGKILLs the program twice: each time after the current
 * program (its pid comes from its own "pid N" line) has shown progress (`progress` on stdout or
 * stderr), at a random moment up to 400 ms later (at most as long as it took to that progress).
 * Only a direct child of ckpt is ever killed.
 */
async function runUnderCkptWithKills(
  ckptArgs: readonly string[],
  command: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; progress: RegExp; kills?: number },
): Promise<KilledRun> {
  const wanted = opts.kills ?? 2;
  const run = startCkpt(['run', '--max-restarts', '20', '--backoff', '0.1s', ...ckptArgs, '--', ...command], {
    cwd: opts.cwd,
    env: opts.env,
  });
  const kills: Kill[] = [];
  let program: number | undefined;
  let armed = false;
  let startedAt = 0;
  const onLine = (line: string): void => {
    const pid = /\bpid (\d+)\b/.exec(line);
    if (pid) {
      program = Number(pid[1]);
      armed = kills.length < wanted;
      startedAt = Date.now();
      return;
    }
    if (!armed || program === undefined || !opts.progress.test(line)) return;
    armed = false;
    const target = program;
    // Within the time this start took to its first progress: a fast machine must not let the
    // program finish before the kill lands.
    const delayMs = Math.floor(Math.random() * Math.min(400, Math.max(20, Date.now() - startedAt)));
    setTimeout(() => {
      if (parentOf(target) !== run.pid) return; // finished meanwhile (the test then fails below)
      process.kill(target, 'SIGKILL');
      kills.push({ pid: target, delayMs });
    }, delayMs);
  };
  createInterface({ input: run.child.stdout! }).on('line', onLine);
  createInterface({ input: run.child.stderr! }).on('line', onLine);
  return { ...(await run.exited), kills };
}

/** The checks every killed run must pass; returns its result line. */
function expectResumedTwice(run: KilledRun, store: string, cwd: string): string {
  const context = `stdout:\n${run.stdout}\nstderr:\n${run.stderr}\nkills: ${JSON.stringify(run.kills)}`;
  expect(run.kills, `the program was not killed twice (too fast?)\n${context}`).toHaveLength(2);
  expect(run.code, context).toBe(0);
  expect(run.stderr).toContain('ckpt: the program finished');
  // Both kills landed: ckpt saw its program die by SIGKILL, twice, before it finished.
  expect(run.stderr.match(/the program crashed \(killed by SIGKILL\)/g) ?? [], context).toHaveLength(2);
  expect(run.stdout.match(/resumed/g) ?? [], context).toHaveLength(2);
  const job = ckptJson<{ state: string; restarts: number }>(['--store', store, 'status'], { cwd });
  expect(job).toMatchObject({ state: 'finished', restarts: 2 });
  return resultLine(run.stdout);
}

beforeAll(requireBuild);
afterEach(killLeftoverCkpts);

const tempDir = useTempDirs('ckpt-examples-');

/** A fresh working directory and store, with the environment that finds them and the CLI. */
function workspace(): { cwd: string; store: string; env: NodeJS.ProcessEnv } {
  const cwd = tempDir();
  const store = join(tempDir(), 'store');
  // No __pycache__ in the checkout's python/ folder.
  return {
    cwd,
    store,
    env: cleanEnv({ PYTHONDONTWRITEBYTECODE: '1', CKPT_STORE: store, CKPT_BIN: CLI_BIN }),
  };
}

describeNeeds('examples/python', PYTHON3, () => {
  const loop = ['python3', join(EXAMPLES, 'python', 'loop_with_ckpt.py')];
  let uninterrupted: Promise<string> | undefined;
  const reference = (): Promise<string> => {
    const a = workspace();
    uninterrupted ??= runPlain(loop, a.cwd, a.env).then((done) => resultLine(done.stdout));
    return uninterrupted;
  };

  it(
    'loop_with_ckpt.py gives the same numbers as the pickle loop it replaces',
    async () => {
      const b = workspace();
      const before = await runPlain(
        ['python3', join(EXAMPLES, 'python', 'pickle_loop_before.py')],
        b.cwd,
        b.env,
      );
      expect(resultLine(before.stdout)).toBe(await reference());
      expect(existsSync(join(b.cwd, 'state.pkl'))).toBe(true);
    },
    TEST_TIMEOUT,
  );

  it(
    'loop_with_ckpt.py, SIGKILLed twice under ckpt run, ends with the same numbers',
    async () => {
      const w = workspace();
      const run = await runUnderCkptWithKills(['--every', '1s'], loop, {
        ...w,
        progress: /committed as #/,
      });
      expect(expectResumedTwice(run, w.store, w.cwd)).toBe(await reference());
    },
    TEST_TIMEOUT,
  );
});

describeNeeds('examples/c', CC, () => {
  const build = mkdtempSync(join(tmpdir(), 'ckpt-heat-'));
  const heat = join(build, 'heat');
  afterAll(() => rmSync(build, { recursive: true, force: true }));
  // Writes state.bin only when ckpt asks (every second): EVERY is out of reach.
  const args = ['80000', '100000', '1000000000'];

  beforeAll(() => {
    const cc = spawnSync(
      'cc',
      ['-O2', '-Wall', '-Wextra', '-std=c99', '-o', heat, join(EXAMPLES, 'c', 'heat.c')],
      {
        encoding: 'utf8',
      },
    );
    if (cc.status !== 0) throw new Error(`cc failed on examples/c/heat.c:\n${cc.stderr}`);
  });

  it(
    'heat.c, SIGKILLed twice under ckpt run --capture, ends with the same field',
    async () => {
      const ref = workspace();
      const reference = resultLine((await runPlain([heat, ...args], ref.cwd, ref.env)).stdout);
      const w = workspace();
      const run = await runUnderCkptWithKills(
        ['--every', '1s', '--capture', 'state.bin', '--settle', '0.3s'],
        [heat, ...args],
        { ...w, progress: /^ckpt: captured 1 file/ },
      );
      expect(expectResumedTwice(run, w.store, w.cwd)).toBe(reference);
    },
    TEST_TIMEOUT,
  );
});

describeNeeds('examples/bash', BASH, () => {
  it(
    'loop.sh, SIGKILLed twice under ckpt run, ends with the same counter',
    async () => {
      const loop = ['bash', join(EXAMPLES, 'bash', 'loop.sh')];
      const ref = workspace();
      const reference = resultLine((await runPlain(loop, ref.cwd, ref.env)).stdout);
      const w = workspace();
      const run = await runUnderCkptWithKills(['--every', '1s'], loop, { ...w, progress: /committed$/ });
      expect(expectResumedTwice(run, w.store, w.cwd)).toBe(reference);
    },
    TEST_TIMEOUT,
  );
});

describe('examples/node', () => {
  it(
    'library.mjs, SIGKILLed twice under ckpt run, ends with the same walkers',
    async () => {
      const program = [process.execPath, join(EXAMPLES, 'node', 'library.mjs')];
      const ref = workspace();
      const reference = resultLine((await runPlain(program, ref.cwd, ref.env)).stdout);
      const w = workspace();
      const run = await runUnderCkptWithKills(['--every', '1s'], program, { ...w, progress: /saved as #/ });
      expect(expectResumedTwice(run, w.store, w.cwd)).toBe(reference);
    },
    TEST_TIMEOUT,
  );
});
