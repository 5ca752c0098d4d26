import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI_BIN } from './repo.js';

/** The environment of the test process without any CKPT_* variable (they configure `ckpt run`). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('CKPT_')) env[key] = value;
  return { ...env, ...extra };
}

export interface CkptExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When the process exited (Date.now()). */
  at: number;
}

/** A running `node bin/ckpt ...` child. */
export interface CkptChild {
  child: ChildProcess;
  pid: number;
  /** Output so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when ckpt itself has exited (not when its pipes close: orphans may hold them). */
  exited: Promise<CkptExit>;
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

/** Starts `node bin/ckpt ARGS` in `cwd` with `env` (default: {@link cleanEnv}). */
export function startCkpt(
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): CkptChild {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<CkptExit>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      const at = Date.now();
      // Give the pipes a moment to deliver what was written just before the exit.
      setTimeout(() => resolve({ code, signal, stdout, stderr, at }), 50);
    });
  });
  if (child.pid === undefined) throw new Error('could not start node bin/ckpt');
  return { child, pid: child.pid, output: () => ({ stdout, stderr }), exited };
}

/** Runs `node bin/ckpt ARGS` to completion. */
export function runCkpt(
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? cleanEnv(),
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30_000,
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `ckpt --store STORE ARGS --json`, parsed; throws with the output if it fails. */
export function ckptJson<T>(store: string, args: readonly string[], cwd: string): T {
  const r = runCkpt(['--store', store, ...args, '--json'], { cwd });
  if (r.status !== 0) throw new Error(`ckpt ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
  everyMs = 20,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The JSON-lines event log a fixture wrote (empty if it does not exist yet). */
export function readEvents<T = { t: number; event: string; [key: string]: unknown }>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}
