import { pruneStore } from '../store/index.js';
import type { RunContext } from './run-context.js';

/** Applies `--keep` to the store now. */
export async function pruneToKeep(run: RunContext): Promise<void> {
  await pruneStore(run.store, run.lease, { keepLast: run.options.keep });
}

/**
 * Applies `--keep` to the program's own commits (`ckpt commit`, the library) once the program
 * has exited: while it runs, a commit of its own may be reusing chunks that pruning would free.
 * A failure is reported, not thrown.
 */
export async function pruneAfterExit(run: RunContext): Promise<void> {
  try {
    if ((await run.store.listSeqs()).length > run.options.keep) await pruneToKeep(run);
  } catch (error) {
    run.log(`ckpt: pruning failed: ${(error as Error).message}`);
  }
}
