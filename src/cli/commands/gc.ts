import { createSlurmHolderProbe } from '../../slurm/index.js';
import { acquireLease, applyGcPlan, planGc } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatBytes } from '../format.js';

/** `ckpt gc [--dry-run]`: delete unreferenced chunks and dead writers' temp files, under the lease. */
export async function runGc(
  ctx: CommandContext,
  flags: { dryRun: boolean; deep?: boolean },
): Promise<number> {
  const store = await openExistingStore(ctx);
  // The lease is taken even for a dry run, so the plan is not raced by a save in flight.
  const lease = await acquireLease(store.root, createSlurmHolderProbe());
  try {
    const plan = await planGc(store, { deep: flags.deep ?? false });
    if (!flags.dryRun) await applyGcPlan(store, lease, plan);
    if (ctx.json) {
      printJson(ctx, {
        dryRun: flags.dryRun,
        chunks: plan.chunks.length,
        tmpFiles: plan.tmpFiles.length,
        rotten: plan.rotten,
        damagedPacks: plan.damagedPacks,
        foreign: plan.foreign,
        rounds: plan.rounds.length,
        blockedBy: plan.blockedBy ?? null,
        bytes: plan.bytes,
        referencedChunks: plan.referenced,
      });
    } else {
      const verb = flags.dryRun ? 'Would free' : 'Freed';
      ctx.out(
        `${verb} ${formatBytes(plan.bytes)}: ${plan.chunks.length} unreferenced chunk files or packs, ${plan.tmpFiles.length} temp files, ${plan.rotten.length} rotten chunks (${plan.referenced} chunks in use).`,
      );
      const removed = flags.dryRun ? 'would remove' : 'removed';
      for (const r of plan.rotten)
        ctx.out(`  rotten \`${r.path}\`: ${r.why} (${removed}; the next save writes it again)`);
      for (const d of plan.damagedPacks)
        ctx.out(
          `  damaged pack \`${d.path}\`: ${d.why} (kept for its other chunks; the next save writes the damaged one again)`,
        );
      if (plan.rounds.length > 0)
        ctx.out(`  ${plan.rounds.length} ended multi-rank commit round(s) in staging/ (${removed})`);
      for (const f of plan.foreign)
        ctx.out(`  foreign \`${f.path}\`: ${f.kind} (${removed}, never followed)`);
      if (plan.blockedBy)
        ctx.err(
          `ckpt: kept every unreferenced chunk: ${plan.blockedBy}. Run gc with a newer ckpt (npm install -g ckpt@latest).`,
        );
    }
  } finally {
    await lease.release();
  }
  return 0;
}
