import {
  type Checkpointer,
  type CheckpointerOptions,
  openCheckpointer as openLayered,
} from './checkpointer/index.js';
import { createSlurmHolderProbe } from './slurm/index.js';

/**
 * Opens (creating if needed) the store and takes its writer lease, as the checkpointer layer's
 * `openCheckpointer` does, judging a lease's holder with SLURM's probe unless `options` names
 * one: inside a requeued SLURM job, the stale copy of an older incarnation is taken over (and
 * fenced), as under `ckpt run`. Throws {@link LockedError} if another live process writes to the
 * store, {@link UsageError} for bad options.
 */
export function openCheckpointer(options: CheckpointerOptions = {}): Promise<Checkpointer> {
  return openLayered({ holderProbe: createSlurmHolderProbe(), ...options });
}
