import { UsageError } from '../../errors.js';
import { createSlurmHolderProbe } from '../../slurm/index.js';
import {
  acquireOrBorrowLease,
  type CompressionMode,
  commitFiles,
  pruneStore,
  Store,
} from '../../store/index.js';
import { type CommandContext, printJson, registerStore } from '../context.js';
import { formatBytes } from '../format.js';

/** The flags of `ckpt commit`, parsed. */
export interface CommitFlags {
  step: number;
  meta: Record<string, string>;
  cwd?: string;
  compression: CompressionMode;
  /** Keep only the newest N checkpoints after committing (deleting older ones and their chunks). */
  keep?: number;
}

/** `ckpt commit --step N PATH...`: commit files from any language or a shell script. */
export async function runCommit(ctx: CommandContext, paths: string[], flags: CommitFlags): Promise<number> {
  if (paths.length === 0) {
    throw new UsageError('`ckpt commit` needs at least one PATH to commit.', {
      hint: 'Example: ckpt commit --step 1200 out/state.h5 out/params.json',
    });
  }
  const store = registerStore(ctx, await Store.open(ctx.storeDir, { create: true }));
  const lease = await acquireOrBorrowLease(store.root, process.env, createSlurmHolderProbe());
  try {
    const m = await commitFiles(store, lease, flags.cwd ?? process.cwd(), paths, {
      step: flags.step,
      meta: flags.meta,
      compression: flags.compression,
    });
    if (flags.keep !== undefined) {
      await pruneStore(store, lease, { keepLast: flags.keep });
    }
    if (ctx.json) printJson(ctx, { seq: m.seq, step: m.step, stats: m.stats });
    else {
      ctx.out(
        `Committed #${m.seq} (step ${m.step}): ${formatBytes(m.stats.bytes)}, ${formatBytes(m.stats.writtenBytes)} new, in ${m.stats.durationMs} ms.`,
      );
    }
  } finally {
    await lease.release();
  }
  return 0;
}
