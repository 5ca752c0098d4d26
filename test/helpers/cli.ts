/**
 * Running the CLI (`node bin/ckpt ...`) in tests, the one way: {@link runCkpt} to its end with its
 * output, {@link ckptJson} for `--json` answers, {@link startCkpt} in the background (ended by
 * {@link killLeftoverCkpts} in an afterEach hook). Each runs in `cwd` with `env` (default
 * {@link cleanEnv}: ours without any CKPT_* variable, so nothing points it at another store).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import { collectOutput, type Output } from './program.js';
import { CLI_BIN, requireBuild } from './repo.js';
import { useTempDirs } from './tmp.js';

/** How a ckpt process is run. */
export interface CkptOptions {
  cwd: string;
  /** The whole environment (default: {@link cleanEnv}()). */
  env?: NodeJS.ProcessEnv;
}

/** How a ckpt process ended. */
export interface CkptResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** How a background ckpt ended, and when. */
export interface CkptExit extends CkptResult {
  /** When the process exited (Date.now()). */
  at: number;
}

/** A running `node bin/ckpt ...` child. */
export interface CkptChild {
  child: ChildProcess;
  pid: number;
  /** Output so far. */
  output(): Output;
  /** Resolves when ckpt itself has exited (not when its pipes close: orphans may hold them). */
  exited: Promise<CkptExit>;
}

export const DEFAULT_CLI_TIMEOUT_MS = 30_000;

/** The environment of the test process without any CKPT_* variable (they configure ckpt), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CKPT_')) env[key] = value;
  return { ...env, ...extra };
}

/** Runs `node bin/ckpt ARGS` to its end (killed after `timeoutMs`, default 30 s). */
export function runCkpt(args: readonly string[], opts: CkptOptions & { timeoutMs?: number }): CkptResult {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? cleanEnv(),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? DEFAULT_CLI_TIMEOUT_MS,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `ckpt ARGS --json`, parsed; throws with the output if it exits non-zero. */
export function ckptJson<T = Record<string, unknown>>(args: readonly string[], opts: CkptOptions): T {
  const r = runCkpt([...args, '--json'], opts);
  if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const running = new Set<ChildProcess>();

/**
 * SIGKILLs every `ckpt` started by {@link startCkpt} that is still running (its watchdog then
 * ends the program's group): for an afterEach hook, so a failed test leaves nothing behind.
 */
export function killLeftoverCkpts(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Starts `node bin/ckpt ARGS` in the background. */
export function startCkpt(args: readonly string[], opts: CkptOptions): CkptChild {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output = collectOutput(child);
  const exited = new Promise<CkptExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      const at = Date.now();
      // Give the pipes a moment to deliver what was written just before the exit.
      setTimeout(() => resolve({ code, signal, ...output, at }), 50);
    });
  });
  if (child.pid === undefined) throw new Error('could not start node bin/ckpt');
  return { child, pid: child.pid, output: () => ({ ...output }), exited };
}

/** A fresh working directory and a store beside it (not in it: captures must not see the store). */
export interface CkptWorkspace {
  work: string;
  store: string;
}

/**
 * For a describe block whose tests start ckpt: requires the build, kills leftover ckpts after
 * each test and removes the temporary directories it hands out (prefix `prefix`).
 */
export function useCkptRuns(prefix: string): { tempDir: () => string; workspace: () => CkptWorkspace } {
  const tempDir = useTempDirs(prefix);
  beforeAll(requireBuild);
  afterEach(killLeftoverCkpts);
  return { tempDir, workspace: () => ({ work: tempDir(), store: join(tempDir(), 'store') }) };
}
