import type { Entry } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatBytes, formatStep, formatTable } from '../format.js';
import { oneLine } from '../terminal-text.js';

/** `ckpt show <id|latest>`: a checkpoint's manifest in full. */
export async function runShow(ctx: CommandContext, ref: string): Promise<number> {
  const store = await openExistingStore(ctx);
  const m = await store.resolve(ref);
  if (ctx.json) {
    printJson(ctx, m);
    return 0;
  }
  const slurm = m.writer.slurm ? `, SLURM job ${m.writer.slurm.jobId}` : '';
  ctx.out(`Checkpoint #${m.seq} — step ${formatStep(m.step, m.meta)}, ${m.time}`);
  ctx.out(`Written by pid ${m.writer.pid} on ${oneLine(String(m.writer.host))}${slurm}`);
  if (m.ranks !== undefined)
    ctx.out(`Committed by ${m.ranks} rank${m.ranks === 1 ? '' : 's'}, each its own part`);
  ctx.out(
    `${formatBytes(m.stats.bytes)} in ${m.stats.chunks} chunks; ${formatBytes(m.stats.writtenBytes)} new in ${m.stats.newChunks} chunks; took ${m.stats.durationMs} ms`,
  );
  if (Object.keys(m.meta).length > 0) ctx.out(`Meta: ${JSON.stringify(m.meta)}`);
  ctx.out('');
  ctx.out(
    formatTable(
      [...(m.ranks === undefined ? [] : ['RANK']), 'TYPE', 'NAME', 'SIZE', 'CHUNKS', 'HASH'],
      m.entries.map((e) => [...(m.ranks === undefined ? [] : [String(e.rank)]), ...entryRow(e)]),
    ),
  );
  return 0;
}

function entryRow(e: Entry): string[] {
  switch (e.type) {
    case 'file':
      return ['file', oneLine(e.path), formatBytes(e.size), String(e.chunks.length), e.hash.slice(0, 16)];
    case 'blob':
      return ['blob', oneLine(e.key), formatBytes(e.size), String(e.chunks.length), e.hash.slice(0, 16)];
    case 'dir':
      return ['dir', oneLine(e.path), '', '', ''];
    default:
      return ['link', `${oneLine(e.path)} -> ${oneLine(e.target)}`, '', '', ''];
  }
}
