import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { shellQuote } from './sbatch-script.js';

/** The directory each task of a job array runs in by default (relative to the submit directory). */
export const DEFAULT_TASK_DIR = 'task-%a';

/** The value of sbatch's `--array` / `-a` among sbatch arguments, or undefined for a plain job. */
export function arrayOption(sbatchArgs: readonly string[]): string | undefined {
  for (let i = 0; i < sbatchArgs.length; i++) {
    const word = sbatchArgs[i]!;
    if (word.startsWith('--array=')) return word.slice('--array='.length);
    if (word === '--array' || word === '-a') return sbatchArgs[i + 1] ?? '';
    if (/^-a./.test(word)) return word.slice(2);
  }
  return undefined;
}

/** Whether a path differs between the tasks of an array: it uses `%a` (task id) or `%j` (job id). */
export function differsPerTask(path: string): boolean {
  return /%[aj]/.test(path);
}

const SHELL_VARIABLES = {
  A: '${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}',
  a: '${SLURM_ARRAY_TASK_ID}',
  j: '${SLURM_JOB_ID}',
};

/** A path with `%A`, `%a`, `%j` as one bash word that expands them from the job's variables. */
export function shellPathPattern(path: string): string {
  return path
    .split(/(%[Aaj])/)
    .map((part) => {
      const variable = SHELL_VARIABLES[part.slice(1) as keyof typeof SHELL_VARIABLES];
      if (part.length === 2 && variable) return `"${variable}"`;
      return part === '' ? '' : shellQuote(part);
    })
    .join('');
}

/**
 * The command with each word that names an existing file or directory relative to `cwd` made
 * absolute, so that it still names it when the task runs in a directory of its own. Returns the
 * words it changed. Words inside a `bash -c` string are not seen: those use `$SLURM_SUBMIT_DIR`.
 */
export function anchorCommand(
  command: readonly string[],
  cwd: string,
): { command: string[]; anchored: string[] } {
  const anchored: string[] = [];
  const out = command.map((word, i) => {
    // The program's own name is looked up in PATH unless it has a slash.
    if (word === '' || isAbsolute(word) || word.startsWith('-') || (i === 0 && !word.includes('/')))
      return word;
    if (!existsSync(join(cwd, word))) return word;
    anchored.push(word);
    return resolve(cwd, word);
  });
  return { command: out, anchored };
}
