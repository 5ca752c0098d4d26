import { UsageError } from '../errors.js';
import type { CompressionMode } from '../store/index.js';

/** The default checkpoint signal of `ckpt run`. */
export const DEFAULT_SIGNAL = 'SIGUSR2';
/** How long a stop waits for the checkpoint before SIGTERM, by default. */
export const DEFAULT_GRACE_MS = 60_000;
/** SIGTERM to SIGKILL, by default. */
export const DEFAULT_KILL_GRACE_MS = 10_000;
/** Restarts after crashes before giving up, by default. */
export const DEFAULT_MAX_RESTARTS = 3;
/** The first delay before a restart, by default. */
export const DEFAULT_BACKOFF_MS = 1_000;
/** The backoff doubles after each crash without progress, up to this. */
export const DEFAULT_MAX_BACKOFF_MS = 5 * 60_000;
/** How long a file changed in place must stay unchanged before capture, by default. */
export const DEFAULT_SETTLE_MS = 2_000;

/**
 * The resolved options of the supervisor (`ckpt run` minus its SLURM settings): every value
 * present, nothing `undefined` but the truly optional. The CLI parses flags, `CKPT_*` variables
 * and config files into this (src/cli/run-settings.ts); the supervisor never parses user input.
 */
export interface RunOptions {
  every: number | undefined;
  signal: NodeJS.Signals;
  capture: string[];
  grace: number;
  killGrace: number;
  maxRestarts: number;
  backoff: number;
  maxBackoff: number;
  settle: number;
  keep: number;
  compress: CompressionMode;
  restoreDir: string | undefined;
  /** A command that vouches for a captured file (exit 0 = complete); the file is in `CKPT_CHECK_FILE`. */
  check: string | undefined;
  /** Where a captured checkpoint's step comes from: a regex on file names, or `json:FIELD`. */
  stepFrom: string | undefined;
}

/** How `--step-from` finds a captured checkpoint's step. */
export type StepSource = { kind: 'name'; pattern: RegExp } | { kind: 'json'; field: string };

/**
 * Parses `--step-from`: `json:FIELD` (a number field of a captured JSON file), or a regular
 * expression matched against the captured files' paths whose first group (or first number) is
 * the step, e.g. `chk_(\d+)`. Throws {@link UsageError} naming the flag.
 */
export function parseStepSource(text: string, what = '--step-from'): StepSource {
  if (text.startsWith('json:')) {
    const field = text.slice(5);
    if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(field)) {
      throw new UsageError(
        `Expected \`${what}\` json:FIELD to name a field like \`step\` or \`state.step\`, got \`${field}\`.`,
      );
    }
    return { kind: 'json', field };
  }
  try {
    return { kind: 'name', pattern: new RegExp(text) };
  } catch (error) {
    throw new UsageError(
      `Expected \`${what}\` to be a regular expression or json:FIELD, got \`${text}\`: ${(error as Error).message}.`,
      {
        hint: 'Example: --step-from "chk_(\\d+)" takes 400 from out/chk_400.pkl.',
      },
    );
  }
}
