import { errnoCode, UsageError } from '../errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { appendJournal } from './journal.js';
import { MAX_MANIFEST_BYTES, manifestPath, RANKED_MANIFEST_VERSION, STORE_FORMAT_VERSION } from './layout.js';
import type { Lease } from './lease.js';
import { type Entry, type Manifest, type SaveStats, serializeManifest } from './manifest.js';
import type { Store } from './store.js';
import { currentWriter } from './writer-info.js';

/** What a save hands to {@link Store.commit}: everything of the manifest but what the commit decides. */
export interface CommitDraft {
  step: number;
  entries: Entry[];
  meta: Record<string, unknown>;
  stats: Omit<SaveStats, 'durationMs'>;
  /** `performance.now()` when the save began (for `stats.durationMs`). */
  startedAt: number;
  /** A multi-rank checkpoint: how many ranks' parts `entries` joins (each entry has its `rank`). */
  ranks?: number;
}

/**
 * Writes the manifest of a new checkpoint under the next free sequence number, the step that
 * makes it exist, then journals it. The lease must have been checked just before; it is checked
 * again after the write, and a fenced writer's manifest is withdrawn (the lease's error is thrown).
 */
export async function commitManifest(store: Store, lease: Lease, draft: CommitDraft): Promise<Manifest> {
  // Under `ckpt run` the supervisor and its program may commit at once: link() refuses an
  // existing name, so the loser takes the next number.
  for (let attempt = 0; ; attempt++) {
    const seqs = await store.listSeqs();
    const manifest: Manifest = {
      format: 'ckpt-manifest',
      version: draft.ranks === undefined ? STORE_FORMAT_VERSION : RANKED_MANIFEST_VERSION,
      seq: (seqs.at(-1) ?? 0) + 1,
      step: draft.step,
      time: new Date().toISOString(),
      writer: currentWriter(),
      entries: draft.entries,
      meta: draft.meta,
      stats: { ...draft.stats, durationMs: Math.round(performance.now() - draft.startedAt) },
      ...(draft.ranks === undefined ? {} : { ranks: draft.ranks }),
    };
    const serialized = serializeManifest(manifest);
    // A manifest no reader would accept must not be written: it would be a damaged checkpoint.
    if (serialized.length > MAX_MANIFEST_BYTES) {
      throw new UsageError(
        `Checkpoint of ${draft.entries.length} entries: its manifest would be ${serialized.length} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have. Nothing was committed.`,
        {
          hint: 'Commit fewer, larger files (an archive of the small ones, or the directory that holds them as one file).',
        },
      );
    }
    try {
      await writeFileAtomic(manifestPath(store.root, manifest.seq), serialized, { exclusive: true });
    } catch (error) {
      if (errnoCode((error as { cause?: unknown }).cause) === 'EEXIST' && attempt < 20) continue;
      throw error;
    }
    // NOTE: fencing. A takeover between the caller's check and the write would let a stale
    // writer commit once; checking again and withdrawing the manifest closes that window.
    try {
      await lease.assertHeld();
    } catch (error) {
      await store.removeManifests([manifest.seq]);
      throw error;
    }
    const { bytes, writtenBytes, durationMs } = manifest.stats;
    // The checkpoint exists from here on: a journal that cannot take the line (full disk,
    // a planted symlink) is a warning, not a failed commit.
    await appendJournal(store.root, 'commit', {
      seq: manifest.seq,
      step: manifest.step,
      bytes,
      writtenBytes,
      durationMs,
      ...(manifest.ranks === undefined ? {} : { ranks: manifest.ranks }),
    }).catch((error: unknown) => {
      store.warn({
        code: 'JOURNAL_APPEND_FAILED',
        message: `Checkpoint #${manifest.seq} is committed, but its journal line was not written: ${error instanceof Error ? error.message : String(error)}`,
      });
    });
    return manifest;
  }
}
