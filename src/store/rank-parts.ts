import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { CkptError, errnoCode, IntegrityError, wrapIoError } from '../errors.js';
import { DIR_MODE, writeFileAtomic } from './atomic-write.js';
import type { ChunkRef } from './chunk-read.js';
import { MAX_MANIFEST_BYTES, MAX_RANKS, MAX_SMALL_FILE_BYTES, STAGING_DIR } from './layout.js';
import { type Manifest, manifestChunks, parseManifest, serializeManifest } from './manifest.js';
import { assertRealDir, readStoreFile } from './safe-fs.js';

/**
 * Parts of a multi-rank checkpoint in flight (docs/format.md, "Multi-rank checkpoints").
 *
 * Each rank writes its files' chunks, then its part, `staging/<session>/<step>/rank-<R>.json`:
 * the form of a manifest (so it is checked the same way) plus `part`. Rank 0 waits for all N
 * parts of its round, checks them, and commits one manifest joining them; then it writes
 * `sealed.json` (or `aborted.json`, saying why) into the round's directory for the other ranks.
 */

/** One rank's share of one multi-rank commit: which launch, which step, which rank of how many. */
export interface RankRound {
  /** Names one launch of the job (all its ranks alike, new for each launch): see docs/parallel.md. */
  session: string;
  step: number;
  rank: number;
  ranks: number;
}

/** A part file's own fields, beside those of a manifest. */
export interface PartInfo {
  session: string;
  rank: number;
  ranks: number;
}

/** A part: the form of a manifest (`seq` 1, unused) with `part`. */
export type PartManifest = Manifest & { part: PartInfo };

/** How a round ended, as rank 0 wrote it. */
export type RoundEnd = { sealed: number } | { aborted: string };

/** A round's directory whose newest file is older than this is abandoned: gc removes it. */
export const STAGING_GRACE_MS = 60 * 60 * 1000;
/** An ended round's directory stays this long, for ranks still to read its verdict. */
export const ENDED_ROUND_KEPT_MS = 10 * 60 * 1000;

/** The directory of a session's rounds: its name is a hash, so any session string is safe. */
function sessionDir(root: string, session: string): string {
  return join(root, STAGING_DIR, createHash('sha256').update(session).digest('hex').slice(0, 24));
}

/** The directory of one round (one session, one step). */
export function roundDir(root: string, round: Pick<RankRound, 'session' | 'step'>): string {
  return join(sessionDir(root, round.session), String(round.step));
}

/** The part file of rank `rank` in a round's directory. */
export function partPath(dir: string, rank: number): string {
  return join(dir, `rank-${rank}.json`);
}

/** Checks a round as given (rank within ranks, a finite step, a non-empty session). */
export function roundProblem(round: RankRound): string | undefined {
  if (!Number.isSafeInteger(round.ranks) || round.ranks < 1 || round.ranks > MAX_RANKS)
    return `the rank count ${round.ranks} is not 1 to ${MAX_RANKS}`;
  if (!Number.isSafeInteger(round.rank) || round.rank < 0 || round.rank >= round.ranks)
    return `rank ${round.rank} is not a rank of ${round.ranks} (0 to ${round.ranks - 1})`;
  if (round.session === '') return 'the session is empty';
  return undefined;
}

/**
 * Makes the round's directory, checking on the way that `staging/` and the session's directory
 * are real directories of the store, never a planted link that would carry the part elsewhere.
 */
export async function makeRoundDir(root: string, round: RankRound): Promise<string> {
  const dir = roundDir(root, round);
  for (const path of [join(root, STAGING_DIR), sessionDir(root, round.session), dir]) {
    await fsp.mkdir(path, { mode: DIR_MODE }).catch((error: unknown) => {
      if (errnoCode(error) !== 'EEXIST') throw wrapIoError(error, 'creating', path);
    });
    await assertRealDir(path, 'staging directory');
  }
  return dir;
}

/** Writes rank's part (atomically; a rank that commits the same round again replaces its part). */
export async function writePart(dir: string, part: PartManifest): Promise<void> {
  await writeFileAtomic(partPath(dir, part.part.rank), serializeManifest(part));
}

/**
 * Reads and checks the part of `rank` for `round`: its checksum and entries as a manifest's, and
 * that it is this round's (session, step, rank, rank count). Throws {@link CkptError} naming the
 * file when it is not; ENOENT passes through (not written yet).
 */
export async function readPart(dir: string, round: RankRound, rank: number): Promise<PartManifest> {
  const path = partPath(dir, rank);
  const bytes = await readStoreFile(path, 'part file', MAX_MANIFEST_BYTES);
  const part = parseManifest(bytes, `part \`${path}\``) as PartManifest;
  const info = part.part as Partial<PartInfo> | undefined;
  const mismatch =
    info === undefined || typeof info !== 'object'
      ? 'it has no `part`'
      : info.session !== round.session
        ? 'it belongs to another launch (session)'
        : part.step !== round.step
          ? `its step is ${part.step}, not ${round.step}`
          : info.rank !== rank
            ? `it says rank ${String(info.rank)}`
            : info.ranks !== round.ranks
              ? `it was written for ${String(info.ranks)} ranks, this round has ${round.ranks}`
              : undefined;
  if (mismatch)
    throw new IntegrityError(
      `The part file \`${path}\` is not rank ${rank}'s part of this commit: ${mismatch}.`,
    );
  return part;
}

/** How the round in `dir` ended, or undefined while it is open. */
export async function readRoundEnd(dir: string): Promise<RoundEnd | undefined> {
  for (const [name, key] of [
    ['sealed.json', 'sealed'],
    ['aborted.json', 'aborted'],
  ] as const) {
    try {
      const value = JSON.parse(
        (await readStoreFile(join(dir, name), 'round end', MAX_SMALL_FILE_BYTES)).toString('utf8'),
      );
      if (key === 'sealed' && Number.isSafeInteger(value?.seq)) return { sealed: value.seq as number };
      if (key === 'aborted') return { aborted: String(value?.why ?? 'no reason given') };
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
    }
  }
  return undefined;
}

/** Ends a round for the ranks that wait on it; the first end written wins. */
export async function writeRoundEnd(dir: string, end: RoundEnd): Promise<void> {
  const [name, body] =
    'sealed' in end ? ['sealed.json', { seq: end.sealed }] : ['aborted.json', { why: end.aborted }];
  await writeFileAtomic(join(dir, name), Buffer.from(`${JSON.stringify(body)}\n`), { exclusive: true }).catch(
    (error: unknown) => {
      if (errnoCode((error as { cause?: unknown }).cause) !== 'EEXIST') throw error;
    },
  );
}

/** A round directory under `staging/`, with what gc and prune need to know of it. */
export interface StagedRound {
  path: string;
  /** Sealed, aborted, or untouched for {@link STAGING_GRACE_MS}: its parts protect no chunk. */
  finished: boolean;
  /**
   * Ended at least {@link ENDED_ROUND_KEPT_MS} ago, or abandoned: gc may remove it (a rank still
   * waiting for a fresh verdict must find it).
   */
  removable: boolean;
  /** The chunks its readable parts name (empty when finished). */
  chunks: ChunkRef[];
  /** When it, or a file in it, last changed (ms since the epoch). */
  touchedAt: number;
}

/**
 * Every round directory in the store's `staging/`. A planted link or file where a directory
 * belongs is skipped, never entered (gc lists such things itself). Part files that cannot be read
 * protect nothing: rank 0 would refuse them too.
 */
export async function listStagedRounds(root: string, now = Date.now()): Promise<StagedRound[]> {
  const staging = join(root, STAGING_DIR);
  if (!(await isRealDir(staging))) return [];
  const rounds: StagedRound[] = [];
  for (const session of await fsp.readdir(staging)) {
    const sessionPath = join(staging, session);
    if (!(await isRealDir(sessionPath))) continue;
    for (const step of await fsp.readdir(sessionPath).catch(() => [] as string[])) {
      const path = join(sessionPath, step);
      if (!(await isRealDir(path))) continue;
      rounds.push(await stagedRound(path, now));
    }
  }
  return rounds;
}

async function stagedRound(path: string, now: number): Promise<StagedRound> {
  const names = await fsp.readdir(path).catch(() => [] as string[]);
  // A round removed meanwhile (rank 0 cleaning up) counts as ended.
  let newest = (await fsp.lstat(path).catch(() => undefined))?.mtimeMs;
  if (newest === undefined) return { path, finished: true, removable: true, chunks: [], touchedAt: 0 };
  for (const name of names)
    newest = Math.max(newest, (await fsp.lstat(join(path, name)).catch(() => undefined))?.mtimeMs ?? 0);
  const ended = (await readRoundEnd(path).catch(() => undefined)) !== undefined;
  const abandoned = now - newest > STAGING_GRACE_MS;
  if (ended || abandoned) {
    const removable = abandoned || now - newest > ENDED_ROUND_KEPT_MS;
    return { path, finished: true, removable, chunks: [], touchedAt: newest };
  }
  const chunks: ChunkRef[] = [];
  for (const name of names) {
    const rank = /^rank-(\d+)\.json$/.exec(name);
    if (!rank || Number(rank[1]) >= MAX_RANKS) continue;
    try {
      const bytes = await readStoreFile(join(path, name), 'part file', MAX_MANIFEST_BYTES);
      chunks.push(...manifestChunks(parseManifest(bytes, name)));
    } catch (error) {
      if (!(error instanceof CkptError) && errnoCode(error) !== 'ENOENT') throw error;
    }
  }
  return { path, finished: false, removable: false, chunks, touchedAt: newest };
}

async function isRealDir(path: string): Promise<boolean> {
  const stat = await fsp.lstat(path).catch(() => undefined);
  return stat?.isDirectory() === true;
}
