import { commitRank } from '../../commit-rank.js';
import { UsageError } from '../../errors.js';
import { createSlurmHolderProbe } from '../../slurm/index.js';
import {
  acquireOrBorrowLease,
  type CompressionMode,
  commitFiles,
  pruneStore,
  type RankFlags,
  resolveRank,
  Store,
} from '../../store/index.js';
import { parseDuration } from '../../supervisor/index.js';
import { type CommandContext, printJson, registerStore } from '../context.js';
import { formatBytes } from '../format.js';
import { type HeldStopSignals, holdStopSignals } from '../stop-signals.js';

/** The flags of `ckpt commit`, parsed. */
export interface CommitFlags {
  step: number;
  meta: Record<string, string>;
  cwd?: string;
  compression: CompressionMode;
  /** Keep only the newest N checkpoints after committing (deleting older ones and their chunks). */
  keep?: number;
  /** A multi-rank commit: this process commits its rank's part (undefined fields: from the launcher). */
  parallel?: RankFlags & { timeout?: string | undefined };
}

/** `ckpt commit --step N PATH...`: commit files from any language or a shell script. */
export async function runCommit(ctx: CommandContext, paths: string[], flags: CommitFlags): Promise<number> {
  if (paths.length === 0) {
    throw new UsageError('`ckpt commit` needs at least one PATH to commit.', {
      hint: 'Example: ckpt commit --step 1200 out/state.h5 out/params.json',
    });
  }
  // A stop signal does not tear a commit under way: it finishes first (a second signal ends it).
  const held = holdStopSignals((line) => process.stderr.write(`${line}\n`));
  try {
    const store = registerStore(ctx, await Store.open(ctx.storeDir, { create: true }));
    if (flags.parallel) return await commitRankPart(ctx, store, paths, flags, flags.parallel, held);
    return await commitOne(ctx, store, paths, flags);
  } finally {
    held.release();
  }
}

/** One process's commit of its files as one checkpoint. */
async function commitOne(
  ctx: CommandContext,
  store: Store,
  paths: string[],
  flags: CommitFlags,
): Promise<number> {
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

/** `ckpt commit --rank R --ranks N`: this rank's part; rank 0 commits the checkpoint once all are in. */
async function commitRankPart(
  ctx: CommandContext,
  store: Store,
  paths: string[],
  flags: CommitFlags,
  parallel: RankFlags & { timeout?: string | undefined },
  held: HeldStopSignals,
): Promise<number> {
  const { rank, ranks } = resolveRank(parallel);
  const timeoutMs = parallel.timeout === undefined ? undefined : parseDuration(parallel.timeout, '--timeout');
  const result = await commitRank({
    ...parallel,
    rank,
    ranks,
    paths,
    step: flags.step,
    store: store.root,
    meta: flags.meta,
    compression: flags.compression,
    ...(flags.cwd ? { cwd: flags.cwd } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    stoppedAt: held.stoppedAt,
  });
  if (flags.keep !== undefined && rank === 0) {
    const held = await acquireOrBorrowLease(store.root, process.env, createSlurmHolderProbe());
    try {
      await pruneStore(store, held, { keepLast: flags.keep });
    } finally {
      await held.release();
    }
  }
  if (ctx.json) printJson(ctx, { seq: result.seq, step: flags.step, rank, ranks, stats: result.stats });
  else {
    ctx.out(
      `Committed #${result.seq} (step ${flags.step}), rank ${rank} of ${ranks}: ${formatBytes(result.stats.bytes)}, ${formatBytes(result.stats.writtenBytes)} new.`,
    );
  }
  return 0;
}
