import { promises as fsp, type Stats } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, IncompleteCommitError, IntegrityError, LockedError, UsageError } from '../errors.js';
import { chunkFilePath, storedSizeProblem } from './chunk-read.js';
import { captureToStore, previousFiles } from './commit-files.js';
import type { CompressionMode } from './compress.js';
import type { Lease } from './lease.js';
import type { Entry, Manifest, SaveStats } from './manifest.js';
import {
  listStagedRounds,
  makeRoundDir,
  type PartManifest,
  partPath,
  type RankRound,
  readPart,
  readRoundEnd,
  roundProblem,
  writePart,
  writeRoundEnd,
} from './rank-parts.js';
import type { Store } from './store.js';
import { currentWriter } from './writer-info.js';

/** How long rank 0 waits for the other ranks' parts, and they for its seal, by default. */
export const DEFAULT_RANK_TIMEOUT_MS = 10 * 60 * 1000;
/** Beyond twice the timeout, how long a rank other than 0 waits for rank 0's verdict. */
const SEAL_MARGIN_MS = 5_000;
/** How often a waiting rank looks at the round's directory. */
const POLL_MS = 50;

/** What {@link commitRankFiles} records and how long it waits. */
export interface RankCommitOptions {
  meta?: Record<string, unknown>;
  compression: CompressionMode;
  /**
   * How long rank 0 waits for the other parts after writing its own (default 10 min); the other
   * ranks wait for rank 0's verdict twice as long, plus 5 s.
   */
  timeoutMs?: number;
  /**
   * When a stop signal reached this process (`ckpt commit` keeps going when one comes: a rank's
   * launcher may signal its whole process group as the job stops). From then on, a rank waits at
   * most {@link STOPPED_WAIT_MS} more for the other parts or for the verdict.
   */
  stoppedAt?: () => number | undefined;
}

/** After a stop signal, how long a rank still waits for the other parts or for rank 0's verdict. */
const STOPPED_WAIT_MS = 5_000;

/** The end of a wait that began with `timeoutMs`, cut short once a stop signal came. */
function waitEnd(until: number, stoppedAt: (() => number | undefined) | undefined): number {
  const stopped = stoppedAt?.();
  return stopped === undefined ? until : Math.min(until, stopped + STOPPED_WAIT_MS);
}

/** What one rank's {@link commitRankFiles} did. */
export interface RankCommitResult {
  /** The checkpoint the round became. */
  seq: number;
  /** This rank's part: its bytes and what it wrote. */
  stats: Omit<SaveStats, 'durationMs'>;
  /** Rank 0 only: the checkpoint's manifest. */
  manifest?: Manifest;
}

/**
 * Commits this rank's files as its part of one multi-rank checkpoint (docs/format.md, "Multi-rank
 * checkpoints"). Every rank writes its chunks and its part file; rank 0 waits for all parts,
 * checks them and every chunk they name, takes the lease (`lease()`: borrowed under `ckpt run`)
 * and commits one manifest joining them, then marks the round sealed. The other ranks wait for
 * that mark. A checkpoint exists only with all parts in it: a part that is missing after
 * `timeoutMs`, damaged, of another launch, or naming a missing chunk aborts the round (nothing is
 * committed; every rank gets an error saying why). Throws {@link UsageError} for a bad round.
 */
export async function commitRankFiles(
  store: Store,
  base: string,
  paths: readonly string[],
  round: RankRound,
  options: RankCommitOptions,
  lease: () => Promise<Lease>,
): Promise<RankCommitResult> {
  const problem = roundProblem(round);
  if (problem) throw new UsageError(`Cannot commit as a rank: ${problem}.`);
  const startedAt = performance.now();
  const dir = await makeRoundDir(store.root, round);
  // An ended round is never reused: its verdict is what its ranks read.
  const ended = await readRoundEnd(dir);
  if (ended) {
    const what =
      'sealed' in ended
        ? `is already checkpoint #${ended.sealed}`
        : `was tried and aborted (${ended.aborted})`;
    throw new UsageError(`Step ${round.step} of this launch ${what}: a multi-rank commit is one per step.`, {
      hint: 'Give each commit its own --step (the ranks of one commit give the same one).',
    });
  }
  const { entries, stats } = await captureToStore(
    store,
    base,
    paths,
    { compression: options.compression },
    await previousFiles(store, round.rank),
  );
  const part: PartManifest = {
    format: 'ckpt-manifest',
    version: 2,
    seq: 1,
    step: round.step,
    time: new Date().toISOString(),
    writer: currentWriter(),
    entries,
    meta: {},
    stats: { ...stats, durationMs: Math.round(performance.now() - startedAt) },
    part: { session: round.session, rank: round.rank, ranks: round.ranks },
  };
  await writePart(dir, part);
  const timeoutMs = options.timeoutMs ?? DEFAULT_RANK_TIMEOUT_MS;
  // Rank 0 may reach this step later than this rank, and its verdict is what counts: wait longer.
  if (round.rank !== 0) {
    return { seq: await awaitSeal(dir, round, 2 * timeoutMs + SEAL_MARGIN_MS, options.stoppedAt), stats };
  }
  try {
    const manifest = await sealRound(store, dir, round, { ...options, timeoutMs, startedAt }, part, lease);
    await writeRoundEnd(dir, { sealed: manifest.seq });
    // The parts are in the manifest now; the mark stays for the ranks still waiting on it.
    for (let rank = 0; rank < round.ranks; rank++) await fsp.rm(partPath(dir, rank), { force: true });
    await cleanSession(store.root, dir);
    return { seq: manifest.seq, stats, manifest };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    await writeRoundEnd(dir, { aborted: why }).catch(() => {});
    throw error;
  }
}

/** Rank 0: waits for every part, checks them, commits the manifest that joins them. */
async function sealRound(
  store: Store,
  dir: string,
  round: RankRound,
  options: RankCommitOptions & { timeoutMs: number; startedAt: number },
  own: PartManifest,
  lease: () => Promise<Lease>,
): Promise<Manifest> {
  const parts: PartManifest[] = [own];
  const pending = new Set(Array.from({ length: round.ranks - 1 }, (_, i) => i + 1));
  const until = Date.now() + options.timeoutMs;
  for (;;) {
    for (const rank of pending) {
      try {
        parts[rank] = await readPart(dir, round, rank);
        pending.delete(rank);
      } catch (error) {
        if (errnoCode(error) !== 'ENOENT') throw error;
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > waitEnd(until, options.stoppedAt)) {
      const missing = [...pending];
      const within =
        Date.now() > until
          ? `within ${Math.round(options.timeoutMs / 1000)} s`
          : `within ${STOPPED_WAIT_MS / 1000} s of the stop signal`;
      throw new IncompleteCommitError(
        `Step ${round.step}: rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${round.ranks} wrote no part ${within}, so no checkpoint was committed.`,
        {
          hint: 'Every rank must run `ckpt commit` for the same --step. A rank that died or runs late: raise --timeout, or look at why it stopped.',
        },
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  await checkPartChunks(store.root, parts);
  const entries: Entry[] = parts.flatMap((part, rank) => part.entries.map((entry) => ({ ...entry, rank })));
  // The lease may be busy for a moment (a `ckpt gc`, a prune): wait for it within the timeout.
  let held: Lease;
  for (;;) {
    try {
      held = await lease();
      break;
    } catch (error) {
      if (!(error instanceof LockedError) || Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 10 * POLL_MS));
    }
  }
  try {
    return await store.commit(held, {
      step: round.step,
      entries,
      meta: options.meta ?? {},
      stats: sumStats(parts.map((p) => p.stats)),
      startedAt: options.startedAt,
      ranks: round.ranks,
    });
  } finally {
    await held.release();
  }
}

/**
 * Checks that every chunk the parts name is in the store with a plausible size: a rank's chunk
 * may be gone (a `ckpt gc` from elsewhere, a damaged disk), and a checkpoint naming it would be
 * one that cannot be restored.
 */
async function checkPartChunks(root: string, parts: readonly PartManifest[]): Promise<void> {
  const stats = new Map<string, Promise<Stats | undefined>>();
  for (const [rank, part] of parts.entries()) {
    for (const entry of part.entries) {
      if (entry.type !== 'file' && entry.type !== 'blob') continue;
      for (const ref of entry.chunks) {
        const path = chunkFilePath(root, ref);
        if (!stats.has(path))
          stats.set(
            path,
            fsp.lstat(path).catch(() => undefined),
          );
        const stat = await stats.get(path);
        const why = stat ? storedSizeProblem(ref, stat) : `chunk ${ref.h} is missing`;
        if (why) {
          throw new IntegrityError(
            `Rank ${rank}'s part names a chunk the store cannot give back (${why}), so no checkpoint was committed.`,
            { hint: 'Run `ckpt verify`; the next commit writes the chunk again.' },
          );
        }
      }
    }
  }
}

/** A rank other than 0: waits until rank 0 sealed the round (its seq) or aborted it (thrown). */
async function awaitSeal(
  dir: string,
  round: RankRound,
  timeoutMs: number,
  stoppedAt: (() => number | undefined) | undefined,
): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const end = await readRoundEnd(dir);
    if (end && 'sealed' in end) return end.sealed;
    if (end) throw new IncompleteCommitError(`Step ${round.step}: rank 0 committed nothing. ${end.aborted}`);
    if (Date.now() > waitEnd(until, stoppedAt)) {
      const within =
        Date.now() > until
          ? `within ${Math.round(timeoutMs / 1000)} s`
          : `within ${STOPPED_WAIT_MS / 1000} s of the stop signal`;
      throw new IncompleteCommitError(
        `Step ${round.step}: rank ${round.rank}'s part is written, but rank 0 did not commit the checkpoint ${within}.`,
        { hint: 'Rank 0 joins the parts: is it running `ckpt commit` for the same --step, or did it stop?' },
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** How long a round may go untouched and still count as in flight, for {@link roundsInFlight}. */
const IN_FLIGHT_QUIET_MS = 3_000;

/**
 * How many multi-rank commits are in flight in the store: rounds without a verdict that changed
 * in the last few seconds (a rank writing its part, rank 0 joining them).
 */
export async function roundsInFlight(root: string): Promise<number> {
  const now = Date.now();
  const rounds = await listStagedRounds(root, now);
  return rounds.filter((round) => !round.finished && now - round.touchedAt < IN_FLIGHT_QUIET_MS).length;
}

/** Removes the session's finished rounds but the one just sealed (its mark is still read). */
async function cleanSession(root: string, sealed: string): Promise<void> {
  const session = join(sealed, '..');
  for (const round of await listStagedRounds(root)) {
    // Every rank has read these verdicts: none could write its part of this round before.
    if (round.finished && round.path !== sealed && join(round.path, '..') === session) {
      await fsp.rm(round.path, { recursive: true, force: true });
    }
  }
}

function sumStats(all: readonly SaveStats[]): Omit<SaveStats, 'durationMs'> {
  const sum = { bytes: 0, writtenBytes: 0, chunks: 0, newChunks: 0 };
  for (const s of all) {
    sum.bytes += s.bytes;
    sum.writtenBytes += s.writtenBytes;
    sum.chunks += s.chunks;
    sum.newChunks += s.newChunks;
  }
  return sum;
}
