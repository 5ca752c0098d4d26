import { NotFoundError } from '../../errors.js';
import type { ArrayStats, Inspection, ValueNode } from '../../inspect/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatApprox, formatBytes } from '../format.js';
import { oneLine } from '../terminal-text.js';

/** `ckpt inspect <id|latest> [PATH]`: what a checkpoint holds, for debugging. */
export async function runInspect(
  ctx: CommandContext,
  ref: string,
  path: string | undefined,
): Promise<number> {
  const { inspectCheckpoint } = await import('../../inspect/index.js');
  const store = await openExistingStore(ctx);
  let inspection: Inspection;
  if (ref === 'latest') {
    // The newest checkpoint that reads whole, as a restore would take it: one whose value does
    // not decode (or whose bytes do not verify) is passed over, and said so.
    const { restoreNewest } = await import('../../store/index.js');
    const found = await restoreNewest(store, (m) => inspectCheckpoint(store, m, path));
    for (const s of found.skipped) ctx.err(`ckpt: checkpoint #${s.seq} passed over: ${s.reason}`);
    if (!found.result) {
      throw new NotFoundError(`No checkpoint in ${store.root} can be read whole.`, {
        hint: 'Run `ckpt verify --deep` to see what is damaged.',
      });
    }
    inspection = found.result;
  } else {
    inspection = await inspectCheckpoint(store, await store.resolve(ref), path);
  }
  if (ctx.json) {
    printJson(ctx, inspection);
    return 0;
  }
  ctx.out(renderInspection(inspection).join('\n'));
  return 0;
}

/** The text of `ckpt inspect`: one line per part, indented by depth. */
export function renderInspection(i: Inspection): string[] {
  const lines = [`Checkpoint #${i.seq}, step ${i.step}:`];
  if (i.kind === 'value') {
    renderNode(i.node, 1, lines);
    return lines;
  }
  for (const f of i.files) {
    const path = oneLine(f.path);
    if (f.type === 'dir') lines.push(`  ${path}/`);
    else if (f.type === 'symlink') lines.push(`  ${path} -> ${oneLine(f.target ?? '')}`);
    else {
      lines.push(`  ${path}  ${formatBytes(f.size ?? 0)}${f.content ? `  ${f.content}` : ''}`);
      for (const line of f.head ?? []) lines.push(`  | ${line}`);
    }
  }
  const unread = i.files.filter((f) => f.type === 'file' && f.content === undefined).length;
  if (unread > 0) {
    lines.push(
      `  (heads of the first ${i.headsShown} text files shown; name a file or directory to see its own)`,
    );
  }
  return lines;
}

function statsText(s: ArrayStats): string {
  const parts = [`${s.dtype}(${s.length})`];
  if (s.length > 0) {
    parts.push(
      `min ${s.min ?? '-'}`,
      `max ${s.max ?? '-'}`,
      `mean ${s.mean === null ? '-' : formatApprox(s.mean)}`,
    );
    if (s.nan > 0 || s.inf > 0) parts.push(`NaN ${s.nan}`, `Inf ${s.inf}`);
    parts.push(`[${s.first.join(', ')}${s.length > s.first.length ? ', …' : ''}]`);
  }
  return parts.join('  ');
}

function renderNode(node: ValueNode, depth: number, lines: string[]): void {
  const name = node.path || '(value)';
  const pad = '  '.repeat(depth);
  switch (node.kind) {
    case 'array':
      lines.push(`${pad}${name}  ${statsText(node.stats)}`);
      return;
    case 'bytes':
      lines.push(
        `${pad}${name}  ${node.type}(${node.length})  [${node.first.join(', ')}${node.length > node.first.length ? ', …' : ''}]`,
      );
      return;
    case 'scalar':
      lines.push(`${pad}${name}  ${node.type} ${node.value}`);
      return;
    default: {
      const what = { object: 'object', list: 'Array', map: 'Map', set: 'Set' }[node.kind];
      lines.push(`${pad}${name}  ${what}(${node.size})`);
      for (const child of node.children) renderNode(child, depth + 1, lines);
      if (node.more > 0) lines.push(`${pad}  … ${node.more} more`);
    }
  }
}
