import { UsageError } from '../errors.js';
import type { Entry, Manifest } from './manifest.js';

/** Which part of a multi-rank checkpoint a restore writes: this rank's, of a job of `ranks`. */
export interface RankChoice {
  rank: number;
  ranks: number;
}

/**
 * The entries a restore of `manifest` writes, without their `rank`. With `choice`, only that
 * rank's part, and the checkpoint must have as many ranks as the job: a different count is
 * refused (each rank's state is its share of a decomposition; only the app could redistribute
 * it). Without, every rank's files, which must not share a path (ranks on one shared directory);
 * two ranks' files at one path are refused, naming it, since neither can be chosen for the other.
 */
export function entriesToRestore(manifest: Manifest, choice?: RankChoice): Entry[] {
  const ranks = manifest.ranks ?? 1;
  if (choice !== undefined && choice.ranks !== ranks) {
    throw new UsageError(
      `Checkpoint #${manifest.seq} was committed by ${ranks === 1 ? 'one process' : `${ranks} ranks`}, and this restore is for rank ${choice.rank} of ${choice.ranks}.`,
      {
        hint: `Run the job with ${ranks} rank${ranks === 1 ? '' : 's'} to resume from it (what each rank holds is its share; ckpt cannot redistribute it), or start afresh with a new store.`,
      },
    );
  }
  if (manifest.ranks === undefined) return manifest.entries;
  const strip = ({ rank: _rank, ...entry }: Entry): Entry => entry;
  if (choice !== undefined) return manifest.entries.filter((e) => e.rank === choice.rank).map(strip);
  // Two ranks' entries at one path (but directories), or one rank's file where another's
  // directory tree goes: neither could be written without losing the other.
  const owner = new Map<string, { rank: number; dir: boolean }>();
  for (const entry of manifest.entries) {
    if (entry.type === 'blob') continue;
    const rank = entry.rank ?? 0;
    const dir = entry.type === 'dir';
    const other = owner.get(entry.path);
    if (other !== undefined && other.rank !== rank && !(other.dir && dir))
      throw collision(manifest, entry.path, other.rank, rank);
    if (!other || !dir) owner.set(entry.path, { rank, dir });
  }
  for (const entry of manifest.entries) {
    if (entry.type === 'blob') continue;
    for (let cut = entry.path.indexOf('/'); cut > 0; cut = entry.path.indexOf('/', cut + 1)) {
      const above = owner.get(entry.path.slice(0, cut));
      if (above && !above.dir)
        throw collision(manifest, entry.path.slice(0, cut), above.rank, entry.rank ?? 0);
    }
  }
  const dirs = new Set<string>();
  return manifest.entries
    .filter((e) => e.type !== 'dir' || (!dirs.has(e.path) && dirs.add(e.path)))
    .map(strip);
}

function collision(manifest: Manifest, path: string, one: number, two: number): UsageError {
  return new UsageError(
    `Checkpoint #${manifest.seq} holds \`${path}\` of rank ${one} and of rank ${two}: restoring every rank's files into one directory would write one over the other.`,
    {
      hint: 'Restore each rank on its own: `ckpt restore --rank R --ranks N` (R, N default to the MPI or SLURM rank and size).',
    },
  );
}
