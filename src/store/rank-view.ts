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
  const owner = new Map<string, number>();
  for (const entry of manifest.entries) {
    if (entry.type === 'blob' || entry.type === 'dir') continue;
    const other = owner.get(entry.path);
    if (other !== undefined && other !== entry.rank) {
      throw new UsageError(
        `Checkpoint #${manifest.seq} holds \`${entry.path}\` of rank ${other} and of rank ${String(entry.rank)}: restoring every rank's files into one directory would write one over the other.`,
        {
          hint: 'Restore each rank on its own: `ckpt restore --rank R --ranks N` (R, N default to the MPI or SLURM rank and size).',
        },
      );
    }
    owner.set(entry.path, entry.rank ?? 0);
  }
  const dirs = new Set<string>();
  return manifest.entries
    .filter((e) => e.type !== 'dir' || (!dirs.has(e.path) && dirs.add(e.path)))
    .map(strip);
}
