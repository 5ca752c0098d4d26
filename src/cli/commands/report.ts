import { resolve } from 'node:path';
import { errnoCode, UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../store/index.js';
import type { CommandContext } from '../context.js';

/**
 * The stores `ckpt report` and `ckpt ui` show: the store at `--store`, or the stores in that
 * directory (a job array's store-%a). A usage error when there is none.
 */
export async function storesToShow(ctx: CommandContext): Promise<string[]> {
  const { storesUnder } = await import('../../report/index.js');
  const hint =
    "Give a store (--store DIR or CKPT_STORE), or a directory whose subdirectories are stores (a job array's store-%a).";
  const stores = await storesUnder(ctx.storeDir).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT')
      throw new UsageError(`No store at \`${ctx.storeDir}\`.`, { hint, cause: error });
    throw error;
  });
  if (stores.length === 0)
    throw new UsageError(`\`${ctx.storeDir}\` is not a store and holds no stores.`, { hint });
  return stores;
}

/** `ckpt report --html FILE`: one self-contained HTML file of a store or a directory of stores. */
export async function runReport(ctx: CommandContext, o: { html?: string }): Promise<number> {
  if (!o.html) {
    throw new UsageError('`ckpt report` needs `--html FILE`: where to write the report.', {
      hint: 'For example `ckpt --store STORE report --html report.html`, then open report.html in a browser.',
    });
  }
  await storesToShow(ctx);
  const { readReport, renderPage } = await import('../../report/index.js');
  const report = await readReport(ctx.storeDir);
  const out = resolve(o.html);
  await writeFileAtomic(out, Buffer.from(renderPage(report, { live: false })), { mode: 0o644 });
  const what = report.kind === 'store' ? `store ${report.name}` : `${report.jobs.length} stores`;
  ctx.out(`Wrote ${out} (${what}); it opens in any browser, without a network.`);
  return 0;
}
