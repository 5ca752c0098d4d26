import { resolve } from 'node:path';
import { DEFAULT_STORE_DIR } from './checkpointer/index.js';
import { createSlurmHolderProbe } from './slurm/index.js';
import {
  acquireOrBorrowLease,
  type CompressionMode,
  commitRankFiles,
  type RankCommitResult,
  type RankFlags,
  resolveRank,
  resolveSession,
  Store,
} from './store/index.js';

/** What {@link commitRank} commits, and as which rank. Unset fields come from the environment. */
export interface CommitRankOptions extends RankFlags {
  /** The files and directories of this rank's part, relative to `cwd`. */
  paths: readonly string[];
  /** The step; the same on every rank of one commit. */
  step: number;
  /** The store (default: `$CKPT_STORE`, else `./.ckpt`). */
  store?: string;
  /** What `paths` are relative to (default: the working directory). */
  cwd?: string;
  meta?: Record<string, unknown>;
  compression?: CompressionMode;
  /** How long rank 0 waits for the other parts (default 10 min; the others wait twice as long). */
  timeoutMs?: number;
  /** When a stop signal came, if the caller keeps going after one: waits are cut short from then. */
  stoppedAt?: () => number | undefined;
}

/**
 * Commits this rank's files as its part of one multi-rank checkpoint, from any program that can
 * call it (the library form of `ckpt commit --rank R --ranks N`; docs/parallel.md). The rank, the
 * rank count and the launch default to what mpirun, srun or `ckpt run` put in the environment.
 * Resolves once rank 0 committed the checkpoint, with its number. Throws
 * {@link IncompleteCommitError} when the round committed nothing (a rank missing or late, a part
 * that failed its checks), {@link UsageError} for a rank or session it cannot tell.
 */
export async function commitRank(options: CommitRankOptions): Promise<RankCommitResult> {
  const { rank, ranks } = resolveRank(options);
  const session = resolveSession(options);
  const store = await Store.open(resolve(options.store ?? process.env.CKPT_STORE ?? DEFAULT_STORE_DIR), {
    create: true,
  });
  return commitRankFiles(
    store,
    options.cwd ?? process.cwd(),
    options.paths,
    { session, step: options.step, rank, ranks },
    {
      meta: options.meta ?? {},
      compression: options.compression ?? 'auto',
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.stoppedAt === undefined ? {} : { stoppedAt: options.stoppedAt }),
    },
    () => acquireOrBorrowLease(store.root, process.env, createSlurmHolderProbe()),
  );
}
