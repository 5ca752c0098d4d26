import { acquireLease, applyPrunePlan, planPrune } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';

export interface PruneFlags {
  keep?: number;
  keepEvery?: number;
  dryRun: boolean;
}

/** `ckpt prune --keep N [--keep-every K] [--dry-run]`: the plan, then (unless dry) its application. */
export async function runPrune(ctx: CommandContext, flags: PruneFlags): Promise<number> {
  const store = await openExistingStore(ctx);
  const scanned = await store.scan();
  const policy = {
    ...(flags.keep !== undefined ? { keepLast: flags.keep } : {}),
    ...(flags.keepEvery !== undefined ? { keepEvery: flags.keepEvery } : {}),
  };
  const plan = planPrune(scanned, policy);
  let freedChunks = 0;
  if (!flags.dryRun && plan.remove.length > 0) {
    const lease = await acquireLease(store.root);
    try {
      freedChunks = (await applyPrunePlan(store, lease, scanned, plan)).freedChunks;
    } finally {
      await lease.release();
    }
  }
  if (ctx.json) {
    printJson(ctx, { dryRun: flags.dryRun, keep: plan.keep, remove: plan.remove, freedChunks });
    return 0;
  }
  const verb = flags.dryRun ? 'Would remove' : 'Removed';
  if (plan.remove.length === 0) ctx.out(`Nothing to prune; keeping ${plan.keep.length} checkpoints.`);
  for (const r of plan.remove) ctx.out(`${verb} #${r.seq} (${r.why})`);
  if (plan.remove.length > 0) {
    ctx.out(
      `Keeping ${plan.keep.map((s) => `#${s}`).join(', ')}.${flags.dryRun ? '' : ` Freed ${freedChunks} chunks.`}`,
    );
  }
  return 0;
}
