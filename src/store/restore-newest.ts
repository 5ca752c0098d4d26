import {
  FormatError,
  IntegrityError,
  IoError,
  NotFoundError,
  TargetPathError,
  UnsafePathError,
} from '../errors.js';
import type { SkippedCheckpoint } from './checkpoint-health.js';
import type { Manifest } from './manifest.js';
import type { Store } from './store.js';

/**
 * How often a walk restarts because a concurrent prune removed what it had listed. Each restart
 * means a writer committed and pruned meanwhile, so this bounds only a reader that a faster
 * writer keeps overtaking (on a loaded machine `--keep 1` commits can overtake five restores).
 */
const MAX_RESTARTS = 50;

/** What {@link restoreNewest} found: the checkpoint used (if any) and those passed over. */
export interface RestoreOutcome<T> {
  manifest: Manifest | undefined;
  result: T | undefined;
  skipped: SkippedCheckpoint[];
}

/**
 * The one restore fallback: tries `attempt` on each candidate, newest first, until one succeeds.
 * A checkpoint that fails for a reason of its own (damage, an unreadable file, an unsafe path,
 * a newer format) is recorded in `skipped` and the next older one is tried. When the failing
 * checkpoint no longer exists, a concurrent prune removed it: the walk starts again, quietly.
 * `attempt` returns `undefined` to pass over a checkpoint that is not its kind (not damage).
 * Other errors (a full disk, a usage error) are the caller's and are thrown.
 */
export async function restoreNewest<T>(
  store: Store,
  attempt: (manifest: Manifest) => Promise<T | undefined>,
): Promise<RestoreOutcome<T>> {
  for (let restart = 0; ; restart++) {
    const { usable, skipped } = await store.candidates();
    let vanished = false;
    for (const manifest of usable) {
      try {
        const result = await attempt(manifest);
        if (result !== undefined) return { manifest, result, skipped };
      } catch (error) {
        if (!isCheckpointFault(error, store.root)) throw error;
        if (restart < MAX_RESTARTS && !(await store.exists(manifest.seq))) {
          vanished = true;
          break;
        }
        skipped.push({ seq: manifest.seq, reason: error.message });
      }
    }
    if (!vanished) {
      // Every checkpoint listed was pruned while the list was read (a commit with --keep ran
      // beside us): the store has newer ones now, so look again.
      if (usable.length === 0 && restart < MAX_RESTARTS) {
        const known = new Set(skipped.map((s) => s.seq));
        if ((await store.listSeqs()).some((seq) => !known.has(seq))) continue;
      }
      return { manifest: undefined, result: undefined, skipped };
    }
  }
}

/**
 * Errors that condemn one checkpoint, not the whole restore: damage, a bad manifest, an unsafe
 * path, and I/O errors on the store's own files (an unreadable chunk). An I/O error in the
 * restore target, or a full disk, is not the checkpoint's fault and is thrown.
 */
export function isCheckpointFault(error: unknown, root: string): error is Error {
  return (
    error instanceof IntegrityError ||
    error instanceof FormatError ||
    (error instanceof UnsafePathError && !(error instanceof TargetPathError)) ||
    error instanceof NotFoundError ||
    (error instanceof IoError && error.message.includes(root))
  );
}
