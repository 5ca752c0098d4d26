import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';

const run = promisify(execFile);

/** How {@link submitBatch} runs sbatch. */
export interface SubmitBatchOptions {
  /** The sbatch to run (default: `sbatch` on the PATH; tests pass their own). */
  command?: string;
}

/**
 * Submits a batch script: `sbatch --parsable ARGS SCRIPT`, and returns the job id SLURM gave it.
 * No timeout: a submission cut short may still have been accepted. Throws {@link UsageError}
 * when sbatch is not installed or refuses the job (its message, and where the script is kept).
 */
export async function submitBatch(
  scriptPath: string,
  sbatchArgs: readonly string[],
  options: SubmitBatchOptions = {},
): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run(options.command ?? 'sbatch', ['--parsable', ...sbatchArgs, scriptPath]));
  } catch (error) {
    const stderr = ((error as { stderr?: string }).stderr ?? '').trim();
    if ((error as { code?: unknown }).code === 'ENOENT') {
      throw new UsageError('`sbatch` was not found: ckpt sbatch must run where SLURM is installed.', {
        cause: error,
      });
    }
    throw new UsageError(`sbatch refused the job: ${stderr || (error as Error).message}`, {
      hint: `The script is kept at ${scriptPath}; \`ckpt sbatch --dry-run\` prints it.`,
      cause: error,
    });
  }
  return parseSbatchOutput(stdout);
}

/** The job id in `sbatch --parsable` output: `JOBID` or `JOBID;CLUSTER`, on the last line. */
export function parseSbatchOutput(stdout: string): string {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return line.trim().split(';')[0] ?? '';
}
