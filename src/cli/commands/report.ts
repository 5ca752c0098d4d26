import { resolve } from 'node:path';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../store/index.js';
import type { CommandContext } from '../context.js';

/** `ckpt report --html FILE`: one self-contained HTML file of a store or a directory of stores. */
export async function runReport(ctx: CommandContext, o: { html?: string }): Promise<number> {
  if (!o.html) {
    throw new UsageError('`ckpt report` needs `--html FILE`: where to write the report.', {
      hint: 'For example `ckpt --store ckpt-store report --html report.html`, then open report.html in a browser.',
    });
  }
  const { readReport, renderPage } = await import('../../report/index.js');
  const report = await readReport(ctx.storeDir).catch((error: unknown) => {
    throw new UsageError(`Cannot report on \`${ctx.storeDir}\`: ${(error as Error).message}`, {
      hint: "Give a store (--store DIR), or a directory whose subdirectories are stores (a job array's store-%a).",
      cause: error,
    });
  });
  if (report.kind === 'directory' && report.jobs.length === 0) {
    throw new UsageError(`\`${ctx.storeDir}\` is not a store and holds no stores.`, {
      hint: 'Give a store (--store DIR), or a directory whose subdirectories are stores.',
    });
  }
  const out = resolve(o.html);
  await writeFileAtomic(out, Buffer.from(renderPage(report, { live: false })), { mode: 0o644 });
  const what = report.kind === 'store' ? `store ${report.name}` : `${report.jobs.length} stores`;
  ctx.out(`Wrote ${out} (${what}); it opens in any browser, without a network.`);
  return 0;
}
