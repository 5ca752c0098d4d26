import { spawnSync } from 'node:child_process';
import { CLI_BIN } from './repo.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment the CLI runs with: ours, minus anything that would point it at another store. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (!('CKPT_STORE' in extra)) delete env.CKPT_STORE;
  delete env.CKPT_LEASE_TOKEN;
  return env;
}

/** Runs `node bin/ckpt ...args` in `cwd` as a real child process. */
export function runCli(cwd: string, args: readonly string[], env: Record<string, string> = {}): CliResult {
  const child = spawnSync(process.execPath, [CLI_BIN, ...args], {
    cwd,
    env: cliEnv(env),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (child.error) throw child.error;
  return { code: child.status, stdout: child.stdout, stderr: child.stderr };
}

/** Runs the CLI and parses its stdout as JSON, failing with the output if it exits non-zero. */
export function runCliJson<T = Record<string, unknown>>(
  cwd: string,
  args: readonly string[],
  env?: Record<string, string>,
): T {
  const result = runCli(cwd, [...args, '--json'], env);
  if (result.code !== 0) throw new Error(`ckpt ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
