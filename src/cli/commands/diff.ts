import { UsageError } from '../../errors.js';
import type { ValueChange } from '../../inspect/index.js';
import type { Entry, Manifest, Store } from '../../store/index.js';
import { manifestChunks } from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatApprox, formatBytes } from '../format.js';
import { oneLine } from '../terminal-text.js';

/** What `ckpt diff A B` reports: paths added, removed and changed from checkpoint A to B. */
export interface ManifestDiff {
  from: number;
  to: number;
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: number;
  /** Bytes of `to` held in chunks that `from` does not have. */
  newBytes: number;
  totalBytes: number;
}

function entryKey(e: Entry): string {
  const name = e.type === 'blob' ? `value:${e.key}` : e.path;
  return e.rank === undefined ? name : `rank ${e.rank}: ${name}`;
}

function entryFingerprint(e: Entry): string {
  switch (e.type) {
    case 'file':
      return `file:${e.hash}:${e.mode}`;
    case 'blob':
      return `blob:${e.hash}`;
    case 'dir':
      return `dir:${e.mode}`;
    case 'symlink':
      return `link:${e.target}`;
  }
}

/** What changed between two checkpoints, entry by entry and in bytes. Pure. */
export function diffManifests(a: Manifest, b: Manifest): ManifestDiff {
  const before = new Map(a.entries.map((e) => [entryKey(e), entryFingerprint(e)]));
  const after = new Map(b.entries.map((e) => [entryKey(e), entryFingerprint(e)]));
  const diff: ManifestDiff = {
    from: a.seq,
    to: b.seq,
    added: [],
    removed: [],
    changed: [],
    unchanged: 0,
    newBytes: 0,
    totalBytes: 0,
  };
  for (const [key, print] of after) {
    const old = before.get(key);
    if (old === undefined) diff.added.push(key);
    else if (old !== print) diff.changed.push(key);
    else diff.unchanged++;
  }
  for (const key of before.keys()) if (!after.has(key)) diff.removed.push(key);
  const had = new Set(manifestChunks(a).map((c) => c.h));
  const counted = new Set<string>();
  for (const c of manifestChunks(b)) {
    diff.totalBytes += c.n;
    if (!had.has(c.h) && !counted.has(c.h)) {
      counted.add(c.h);
      diff.newBytes += c.n;
    }
  }
  return diff;
}

/** `ckpt diff A B [--values]` */
export async function runDiff(
  ctx: CommandContext,
  refA: string,
  refB: string,
  o: { values?: boolean } = {},
): Promise<number> {
  const store = await openExistingStore(ctx);
  const [a, b] = [await store.resolve(refA), await store.resolve(refB)];
  if (o.values) return runValueDiff(ctx, store, a, b);
  const diff = diffManifests(a, b);
  if (ctx.json) {
    printJson(ctx, diff);
    return 0;
  }
  ctx.out(
    `#${diff.from} → #${diff.to}: ${formatBytes(diff.newBytes)} of ${formatBytes(diff.totalBytes)} in new chunks.`,
  );
  for (const k of diff.added) ctx.out(`  + ${oneLine(k)}`);
  for (const k of diff.removed) ctx.out(`  - ${oneLine(k)}`);
  for (const k of diff.changed) ctx.out(`  ~ ${oneLine(k)}`);
  ctx.out(`  ${diff.unchanged} unchanged`);
  return 0;
}

/** `ckpt diff A B --values`: how two library checkpoints' values differ, part by part. */
async function runValueDiff(ctx: CommandContext, store: Store, a: Manifest, b: Manifest): Promise<number> {
  const { holdsValue, readValue } = await import('../../checkpointer/value-io.js');
  const { diffValues } = await import('../../inspect/index.js');
  for (const m of [a, b]) {
    if (!holdsValue(m)) {
      throw new UsageError(
        `Checkpoint #${m.seq} holds files, not a library value: --values compares values.`,
        {
          hint: 'Leave out --values to compare the files of two checkpoints.',
        },
      );
    }
  }
  const diff = diffValues(await readValue(store.root, a), await readValue(store.root, b));
  if (ctx.json) {
    printJson(ctx, { from: a.seq, to: b.seq, ...diff });
    return 0;
  }
  ctx.out(
    `#${a.seq} (step ${a.step}) → #${b.seq} (step ${b.step}): ${diff.changes.length} part(s) changed, ${diff.unchangedArrays} array(s) unchanged.`,
  );
  for (const c of diff.changes) ctx.out(`  ${changeLine(c)}`);
  return 0;
}

const num = (v: number | null): string => (v === null ? '-' : formatApprox(v));

function changeLine(c: ValueChange): string {
  switch (c.kind) {
    case 'array': {
      const len = c.lengths[0] === c.lengths[1] ? '' : `, length ${c.lengths[0]} → ${c.lengths[1]}`;
      const where = c.firstAt === null ? '' : `, first at [${c.firstAt}]`;
      const abs = c.maxAbsAt === null ? '' : `; largest change ${num(c.maxAbs)} at [${c.maxAbsAt}]`;
      const rel = c.maxRelAt === null ? '' : `, largest relative ${num(c.maxRel)} at [${c.maxRelAt}]`;
      const odd = c.nonFinite > 0 ? `; ${c.nonFinite} to, from or between NaN and ±Inf` : '';
      return `~ ${c.path}  ${c.dtype}: ${c.changed} of ${c.compared} changed${len}${where}${abs}${rel}${odd}`;
    }
    case 'scalar':
      return `~ ${c.path}  ${c.old} → ${c.new}`;
    case 'type':
      return `! ${c.path}  ${c.old} → ${c.new}`;
    case 'added':
      return `+ ${c.path}  ${c.what}`;
    case 'removed':
      return `- ${c.path}  ${c.what}`;
  }
}
