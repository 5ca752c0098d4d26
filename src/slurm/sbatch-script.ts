import { UsageError } from '../errors.js';
import { leadTimeMs, SLURM_JITTER_MS } from './deadline.js';

/** What `ckpt sbatch` puts into the batch script it writes. */
export interface BatchScriptInput {
  /** Absolute paths: the node binary and ckpt's bin script, so the job runs this same ckpt. */
  node: string;
  ckptBin: string;
  store: string;
  /** `ckpt run` options, already in argv form. */
  runArgs: readonly string[];
  command: readonly string[];
  warningSignal: NodeJS.Signals;
  leadSeconds: number;
  /** The directory the command runs in (made if missing), a bash word; the submit directory if unset. */
  workdir?: string;
}

/** Quotes a word for bash (single quotes; embedded quotes escaped). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The batch script `ckpt sbatch` submits. `exec` makes `ckpt run` the batch shell itself, so the
 * `B:` warning signal and SIGTERM reach ckpt directly; `--requeue` and `--open-mode=append` make
 * requeues keep the job id and the output.
 */
export function buildBatchScript(input: BatchScriptInput): string {
  const sig = input.warningSignal.replace(/^SIG/, '');
  const argv = [
    input.node,
    input.ckptBin,
    '--store',
    input.store,
    'run',
    ...input.runArgs,
    '--',
    ...input.command,
  ];
  return [
    '#!/bin/bash',
    '#SBATCH --requeue',
    '#SBATCH --open-mode=append',
    `#SBATCH --signal=B:${sig}@${input.leadSeconds}`,
    '# Written by `ckpt sbatch`: the job checkpoints before its time limit, requeues itself and',
    '# resumes from its last valid checkpoint until the command finishes.',
    `# Store: ${input.store}`,
    ...(input.workdir ? [`mkdir -p -- ${input.workdir} && cd -- ${input.workdir} || exit 1`] : []),
    `exec ${argv.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

/** A SLURM `--time` value in ms: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`; undefined for `UNLIMITED`. */
export function parseSlurmTime(value: string): number | undefined {
  const v = value.trim();
  if (/^(unlimited|infinite)$/i.test(v)) return undefined;
  let m = /^(\d+)$/.exec(v);
  if (m) return Number(m[1]) * 60_000;
  m = /^(\d+):(\d+)$/.exec(v);
  if (m) return (Number(m[1]) * 60 + Number(m[2])) * 1000;
  m = /^(\d+):(\d+):(\d+)$/.exec(v);
  if (m) return (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000;
  m = /^(\d+)-(\d+)(?::(\d+))?(?::(\d+))?$/.exec(v);
  if (m)
    return (((Number(m[1]) * 24 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 60 + Number(m[4] ?? 0)) * 1000;
  throw new UsageError(
    `Expected \`--time\` in a SLURM time format (M, M:S, H:M:S, D-H:M:S), got \`${value}\`.`,
  );
}

/**
 * The warning lead `ckpt sbatch` asks for: checkpoint time + SLURM's jitter + margin, but such
 * that the warning never comes in the first half of the time limit (else a short job would be
 * warned at once, every time). SLURM sends `--signal=B:SIG@N` between N and N + 30 s before the
 * end (it checks every 30 s), so N is at most half the limit minus that jitter.
 */
export function chooseLeadSeconds(
  timeLimitMs: number | undefined,
  measuredCheckpointMs: number | undefined,
): number {
  const lead = leadTimeMs(measuredCheckpointMs);
  const capped = timeLimitMs === undefined ? lead : Math.min(lead, timeLimitMs / 2 - SLURM_JITTER_MS);
  return Math.max(1, Math.round(capped / 1000));
}
