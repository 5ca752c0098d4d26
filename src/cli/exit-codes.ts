import { CkptError } from '../errors.js';

/** Exit codes of the CLI (docs/cli.md). `ckpt run` exits the way its program did. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_DAMAGED = 3;

/** Usage and configuration problems exit 2; everything else a CkptError names exits 1. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CkptError) {
    return error.code === 'CKPT_USAGE' || error.code === 'CKPT_NO_STORE' ? EXIT_USAGE : EXIT_FAILURE;
  }
  return EXIT_FAILURE;
}
