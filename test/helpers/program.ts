/**
 * Running a program other than ckpt to its end (a reference run, a control run), and collecting
 * a child's output: {@link runProgram}, {@link collectOutput}.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** A child's output so far, kept up to date as it arrives. */
export interface Output {
  stdout: string;
  stderr: string;
}

/** Starts collecting `child`'s stdout and stderr into the returned object. */
export function collectOutput(child: ChildProcess): Output {
  const output: Output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => {
    output.stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output.stderr += d.toString();
  });
  return output;
}

/** How a program run by {@link runProgram} ended. */
export interface ProgramResult extends Output {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout, then stderr. */
  output: string;
}

/** Runs `command` to its end without ckpt (and without blocking the event loop). */
export function runProgram(
  command: readonly string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<ProgramResult> {
  const child = spawn(command[0]!, command.slice(1), {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({ ...output, code, signal, output: output.stdout + output.stderr }),
    );
  });
}
