import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { IntegrityError, UsageError } from '../../errors.js';
import {
  allocateEntry,
  DIR_MODE,
  type Manifest,
  materializeFiles,
  type RankChoice,
  readChunks,
  resolveRank,
  restoreNewest,
  type SkippedCheckpoint,
  type Store,
  writeFileAtomic,
} from '../../store/index.js';
import { type CommandContext, openExistingStore, printJson } from '../context.js';
import { formatBytes } from '../format.js';

/**
 * `ckpt restore <id|latest> --to DIR`: writes a checkpoint's files into DIR. For a stored
 * JavaScript value, writes its document (`value.json`) and raw arrays (`<key>.bin`).
 * With `latest`, a checkpoint whose contents fail verification is skipped for an older one.
 */
export async function runRestore(
  ctx: CommandContext,
  ref: string,
  flags: { to?: string; rank?: number | undefined; ranks?: number | undefined },
): Promise<number> {
  if (!flags.to)
    throw new UsageError('`ckpt restore` needs `--to DIR`, the directory to write the files into.');
  const rank = flags.rank !== undefined || flags.ranks !== undefined ? resolveRank(flags) : undefined;
  const store = await openExistingStore(ctx);
  const target = resolve(flags.to);
  let manifest: Manifest | undefined;
  let result: { files: number; bytes: number } | undefined;
  let skipped: SkippedCheckpoint[] = [];
  if (ref === 'latest') {
    ({ manifest, result, skipped } = await restoreNewest(store, (m) => restoreOne(store, m, target, rank)));
  } else {
    manifest = await store.resolve(ref);
    result = await restoreOne(store, manifest, target, rank);
  }
  if (!manifest || !result) {
    throw new IntegrityError(`No checkpoint in ${store.root} could be restored.`, {
      hint:
        skipped.length > 0
          ? `Skipped: ${skipped.map((s) => `#${s.seq} (${s.reason})`).join('; ')}`
          : 'The store is empty.',
    });
  }
  const { files, bytes } = result;
  if (ctx.json) {
    printJson(ctx, { seq: manifest.seq, step: manifest.step, to: target, files, bytes, skipped });
  } else {
    for (const s of skipped) ctx.err(`Skipped #${s.seq}: ${s.reason}`);
    ctx.out(
      `Restored #${manifest.seq} (step ${manifest.step}) to ${target}: ${files} files, ${formatBytes(bytes)}.`,
    );
  }
  return 0;
}

async function restoreOne(
  store: Store,
  manifest: Manifest,
  target: string,
  rank: RankChoice | undefined,
): Promise<{ files: number; bytes: number }> {
  const blobs = manifest.entries.filter((e) => e.type === 'blob');
  if (blobs.length === 0) return materializeFiles(store.root, manifest, target, rank);
  // Read and verify everything before writing anything.
  const contents = await Promise.all(
    blobs.map(async (entry) => {
      const bytes = allocateEntry(entry.size, `Entry \`${entry.key}\` of checkpoint #${manifest.seq}`);
      await readChunks(store.root, entry.chunks, bytes);
      return { name: entry.key === 'value' ? 'value.json' : `${entry.key}.bin`, bytes };
    }),
  );
  await fsp.mkdir(target, { recursive: true, mode: DIR_MODE });
  for (const { name, bytes } of contents) await writeFileAtomic(join(target, name), bytes);
  const fileResult = manifest.entries.some((e) => e.type !== 'blob')
    ? await materializeFiles(store.root, manifest, target, rank)
    : { files: 0, bytes: 0 };
  return {
    files: contents.length + fileResult.files,
    bytes: contents.reduce((sum, c) => sum + c.bytes.byteLength, fileResult.bytes),
  };
}
