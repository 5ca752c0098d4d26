import { createSlurmHolderProbe } from '../../slurm/index.js';
import { acquireLease, pruneStore } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';

/** The flags of `ckpt prune`, parsed. */
export interface PruneFlags {
  keep?: number;
  keepEvery?: number;
  dryRun: boolean;
}

/** `ckpt prune --keep N [--keep-every K] [--dry-run]`: the plan, then (unless dry) its application. */
export async function runPrune(ctx: CommandContext, flags: PruneFlags): Promise<number> {
  const store = await openExistingStore(ctx);
  const policy = {
    ...(flags.keep !== undefined ? { keepLast: flags.keep } : {}),
    ...(flags.keepEvery !== undefined ? { keepEvery: flags.keepEvery } : {}),
  };
  // Scan under the lease, so no save can commit between the plan and its application.
  const lease = flags.dryRun ? undefined : await acquireLease(store.root, createSlurmHolderProbe());
  let pruned: Awaited<ReturnType<typeof pruneStore>>;
  try {
    pruned = await pruneStore(store, lease ?? 'dry-run', policy);
  } finally {
    await lease?.release();
  }
  const { plan, freedChunks } = pruned;
  if (ctx.json) {
    printJson(ctx, { dryRun: flags.dryRun, keep: plan.keep, remove: plan.remove, freedChunks });
    return 0;
  }
  const verb = flags.dryRun ? 'Would remove' : 'Removed';
  if (plan.remove.length === 0) ctx.out(`Nothing to prune; keeping ${plan.keep.length} checkpoints.`);
  for (const r of plan.remove) ctx.out(`${verb} #${r.seq} (${r.why})`);
  if (plan.remove.length > 0) {
    ctx.out(
      `Keeping ${plan.keep.map((s) => `#${s}`).join(', ')}.${flags.dryRun ? '' : ` Freed ${freedChunks} packs or chunk files.`}`,
    );
  }
  return 0;
}
