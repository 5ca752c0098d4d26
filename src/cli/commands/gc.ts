import { acquireLease, applyGcPlan, planGc } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatBytes } from '../format.js';

/** `ckpt gc [--dry-run]`: delete unreferenced chunks and dead writers' temp files, under the lease. */
export async function runGc(ctx: CommandContext, flags: { dryRun: boolean }): Promise<number> {
  const store = await openExistingStore(ctx);
  // The lease is taken even for a dry run, so the plan is not raced by a save in flight.
  const lease = await acquireLease(store.root);
  try {
    const plan = await planGc(store);
    if (!flags.dryRun) await applyGcPlan(store, lease, plan);
    if (ctx.json) {
      printJson(ctx, {
        dryRun: flags.dryRun,
        chunks: plan.chunks.length,
        tmpFiles: plan.tmpFiles.length,
        bytes: plan.bytes,
        referencedChunks: plan.referenced,
      });
    } else {
      const verb = flags.dryRun ? 'Would free' : 'Freed';
      ctx.out(
        `${verb} ${formatBytes(plan.bytes)}: ${plan.chunks.length} unreferenced chunks, ${plan.tmpFiles.length} temp files (${plan.referenced} chunks in use).`,
      );
    }
  } finally {
    await lease.release();
  }
  return 0;
}
