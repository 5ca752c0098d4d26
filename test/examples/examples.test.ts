/**
 * The runnable examples under examples/ (Python, C, bash, Node), end to end: each runs once
 * uninterrupted for the reference result, then under `ckpt run` while the test SIGKILLs the
 * program (never ckpt) twice at random moments after it made progress; ckpt must restart it and
 * the final result must equal the reference. Run `npm run build` first (the CLI runs from dist/).
 * A missing python3 or cc skips its tests, except under CI, where it fails them.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDirs } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'bin', 'ckpt');
const EXAMPLES = join(ROOT, 'examples');
const TEST_TIMEOUT = 90_000;

const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args).status === 0;
const hasPython = has('python3', '--version');
const hasCc = has('cc', '--version');
const hasBash = has('bash', '--version');

/** Registers a failing test under CI, a skipped one elsewhere, when a tool is missing. */
function requireTool(present: boolean, title: string, missing: string): boolean {
  if (present) return true;
  describe(title, () => {
    if (process.env.CI) {
      it(`needs ${missing}`, () => {
        throw new Error(`${missing} (CI is set, so this is a failure, not a skip).`);
      });
    } else {
      console.warn(`Skipping ${title}: ${missing}.`);
      it.skip(missing, () => {});
    }
  });
  return false;
}

/** The test's environment without CKPT_* (they would configure ckpt), plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CKPT_')) env[key] = value;
  // No __pycache__ in the checkout's python/ folder.
  return { ...env, PYTHONDONTWRITEBYTECODE: '1', ...extra };
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs a program to its end, no ckpt run around it. */
async function runPlain(command: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Finished> {
  const child = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = await collect(child);
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

interface KilledRun extends Finished {
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
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--max-restarts', '20', '--backoff', '0.1s', ...ckptArgs, '--', ...command],
    { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const done = collect(child);
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
      if (parentOf(target) !== child.pid) return; // finished meanwhile (the test then fails below)
      process.kill(target, 'SIGKILL');
      kills.push({ pid: target, delayMs });
    }, delayMs);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  try {
    return { ...(await done), kills };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
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
  const status = spawnSync(process.execPath, [CLI, '--store', store, 'status', '--json'], {
    cwd,
    encoding: 'utf8',
  });
  expect(status.status, status.stderr).toBe(0);
  const job = JSON.parse(status.stdout) as { state: string; restarts: number };
  expect(job).toMatchObject({ state: 'finished', restarts: 2 });
  return resultLine(run.stdout);
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'cli-bundle', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before these tests.');
  }
});

const tempDir = useTempDirs('ckpt-examples-');

/** A fresh working directory and store, with the environment that finds them and the CLI. */
function workspace(): { cwd: string; store: string; env: NodeJS.ProcessEnv } {
  const cwd = tempDir();
  const store = join(tempDir(), 'store');
  return { cwd, store, env: envWith({ CKPT_STORE: store, CKPT_BIN: CLI }) };
}

if (requireTool(hasPython, 'examples/python', 'python3 is not installed: install python3')) {
  describe('examples/python', () => {
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
}

if (requireTool(hasCc, 'examples/c', 'cc is not installed: install gcc (apt-get install gcc)')) {
  describe('examples/c', () => {
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
}

if (requireTool(hasBash, 'examples/bash', 'bash is not installed: install bash')) {
  describe('examples/bash', () => {
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
}

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
