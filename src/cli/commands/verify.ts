import { verifyStore } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { EXIT_DAMAGED } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { startProgress } from '../progress.js';

/** `ckpt verify [--deep]`: exit 0 when sound, 3 when something is damaged. */
export async function runVerify(ctx: CommandContext, options: { deep: boolean }): Promise<number> {
  const store = await openExistingStore(ctx);
  const progress = await startProgress('verifying');
  const report = await verifyStore(store, { deep: options.deep, onProgress: progress.update }).finally(
    progress.stop,
  );
  if (ctx.json) {
    printJson(ctx, { store: store.root, ...report });
    return report.damaged ? EXIT_DAMAGED : 0;
  }
  const bad = report.checkpoints.filter((c) => !c.ok);
  const how = report.deep
    ? 'every chunk re-hashed'
    : 'manifests and chunk sizes; add --deep to re-hash contents';
  ctx.out(
    `${report.checkpoints.length - bad.length} of ${report.checkpoints.length} checkpoints OK (${how}).`,
  );
  for (const c of bad) ctx.out(`  #${c.seq}: DAMAGED — ${c.problem}`);
  const { tmpFiles, orphanChunks, bytes } = report.leftovers;
  if (tmpFiles + orphanChunks > 0) {
    ctx.out(
      `Leftovers (harmless): ${tmpFiles} temp files, ${orphanChunks} unreferenced chunks, ${formatBytes(bytes)}; \`ckpt gc\` removes them.`,
    );
  }
  for (const f of report.foreign) {
    ctx.out(
      `  FOREIGN: \`${f.path}\` is ${f.kind}; ckpt never writes one there (not followed; \`ckpt gc\` removes it).`,
    );
  }
  for (const r of report.rotten)
    ctx.out(
      `  ROTTEN: \`${r.path}\`: ${r.why} (\`ckpt gc${report.deep ? ' --deep' : ''}\` removes it; the next save writes it again).`,
    );
  for (const p of report.problems) ctx.out(`  ERROR: ${p}`);
  if (report.journal.damagedLines.length > 0) {
    ctx.out(`Journal: damaged lines ${report.journal.damagedLines.join(', ')}.`);
  }
  const torn = report.journal.tornLines.length + (report.journal.tornTail ? 1 : 0);
  if (torn > 0) ctx.out(`Journal: ${torn} line(s) cut short by a killed writer (harmless).`);
  return report.damaged ? EXIT_DAMAGED : 0;
}
