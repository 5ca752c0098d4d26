import { UsageError } from '../../errors.js';
import { createSlurmHolderProbe } from '../../slurm/index.js';
import { breakLease, describeWriter, holderState, readLease } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';

/** `ckpt unlock [--force]`: remove the writer lease of a holder that is gone. */
export async function runUnlock(ctx: CommandContext, flags: { force: boolean }): Promise<number> {
  const store = await openExistingStore(ctx);
  const holder = await readLease(store.root).catch(async (error: unknown) => {
    if (!flags.force) throw error;
    await breakLease(store.root); // an unreadable lease, and --force: remove it
    return undefined;
  });
  if (!holder) {
    if (ctx.json) printJson(ctx, { unlocked: false, holder: null });
    else ctx.out('The store is not locked.');
    return 0;
  }
  const state = await holderState(holder, createSlurmHolderProbe());
  if (state === 'alive' && !flags.force) {
    throw new UsageError(`The lease is held by ${describeWriter(holder)}, which is still running.`, {
      hint: 'Stop that process first. `ckpt unlock --force` removes the lease anyway (two writers may then collide).',
    });
  }
  await breakLease(store.root);
  if (ctx.json) printJson(ctx, { unlocked: true, holder, holderState: state });
  else ctx.out(`Removed the lease of ${describeWriter(holder)} (${state}).`);
  return 0;
}
