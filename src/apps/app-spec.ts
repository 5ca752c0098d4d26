import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import type { AppContext } from './app-options.js';

/** One thing `ckpt doctor` found: data, not printing (the CLI prints). */
export interface DoctorFinding {
  app: string;
  severity: 'ok' | 'warning' | 'error';
  code: string;
  message: string;
  fix?: string;
}

/** How a doctor check reports a finding. */
export type Add = (severity: DoctorFinding['severity'], code: string, message: string, fix: string) => void;

/**
 * Everything ckpt knows of one app, in the app's own file, registered in one list (index.ts):
 * its behaviour under `ckpt run`, how `ckpt doctor` finds it installed, and what it checks in
 * the command the user would run.
 */
export interface AppSpec {
  name: string;
  /** The adapter for one `ckpt run`. */
  create(ctx: AppContext, packageRoot: string): AppBehavior;
  /** How to find the installed version; absent when ckpt cannot check it (TensorFlow). */
  install?: {
    /** The program to ask, given the user's command (PyTorch: its python). */
    command(userCommand: readonly string[]): string;
    /** How messages name the program, when the command asked is not it (a shell around it). */
    label?: string;
    args: string[];
    /** Captures the version from the output. */
    version: RegExp;
    /** What to install when it is missing. */
    fix: string;
    env?: Record<string, string>;
    /** A better finding than NOT_INSTALLED, when there is one (the app is there, but elsewhere). */
    whenMissing?(program: string): Promise<Omit<DoctorFinding, 'app'> | undefined>;
  };
  /** Checks the command the user would run (`ckpt doctor --app NAME -- CMD`), in its directory. */
  doctor?(command: readonly string[], cwd: string, add: Add): void | Promise<void>;
}

/**
 * Runs `cmd args` and returns the first group of `pattern` in its output. In a directory of its
 * own (pw.x leaves `input_tmp.in` and a `CRASH` file where it runs) and with an empty standard
 * input (pw.x reads its input from there and would wait for it).
 */
export async function appVersion(
  cmd: string,
  args: string[],
  pattern: RegExp,
  env?: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  const cwd = await mkdtemp(join(tmpdir(), 'ckpt-doctor-'));
  const out = await new Promise<string>((resolveOut) => {
    const child = execFile(
      cmd,
      args,
      { cwd, timeout: 20_000, env: { ...process.env, ...env } },
      (_error, stdout, stderr) => resolveOut(`${stdout}\n${stderr}`),
    );
    child.stdin?.end();
  }).finally(() => rm(cwd, { recursive: true, force: true }));
  return pattern.exec(out)?.[1]?.trim();
}
