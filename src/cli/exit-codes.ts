import { CkptError } from '../errors.js';

/** Exit codes of the CLI (docs/cli.md). `ckpt run` exits the way its program did. */
export const EXIT_OK = 0;
/** A command failed (an I/O error, a checkpoint that does not exist, a lease held elsewhere…). */
export const EXIT_FAILURE = 1;
/** Bad usage or configuration: a wrong flag or value, a missing store. */
export const EXIT_USAGE = 2;
/** `ckpt verify` found damage. */
export const EXIT_DAMAGED = 3;

/** Usage and configuration problems exit 2; everything else a CkptError names exits 1. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CkptError) {
    return error.code === 'CKPT_USAGE' || error.code === 'CKPT_NO_STORE' ? EXIT_USAGE : EXIT_FAILURE;
  }
  return EXIT_FAILURE;
}
/** `ckpt run`: the program was stopped on request and can resume (EX_TEMPFAIL). */
export const EXIT_RESUMABLE = 75;
/** `ckpt run`: the command could not be started. */
export const EXIT_CANNOT_START = 127;
