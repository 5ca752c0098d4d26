import { captureFiles, type FileIdentity, type PreviousFiles } from './capture-files.js';
import { ChunkWriter } from './chunk-store.js';
import type { CompressionMode } from './compress.js';
import type { Lease } from './lease.js';
import type { Entry, FileEntry, Manifest, SaveStats } from './manifest.js';
import type { Store } from './store.js';

/** What {@link commitFiles} records with the files, and how it captures them. */
export interface CommitFilesOptions {
  step: number;
  meta?: Record<string, unknown>;
  compression: CompressionMode;
  /** Paths of files that may keep growing (logs): captured up to their size when opened. */
  growing?: ReadonlySet<string>;
  /** What a completeness check saw of each file: a file that differs now fails the commit. */
  expected?: ReadonlyMap<string, FileIdentity>;
}

/**
 * Captures files and directories (relative to `base`) into a new checkpoint: chunks first,
 * made durable, then the manifest. Returns the committed manifest.
 */
export async function commitFiles(
  store: Store,
  lease: Lease,
  base: string,
  paths: readonly string[],
  options: CommitFilesOptions,
): Promise<Manifest> {
  const startedAt = performance.now();
  const { entries, stats } = await captureToStore(store, base, paths, options, await previousFiles(store));
  return store.commit(lease, {
    step: options.step,
    entries,
    meta: options.meta ?? {},
    stats,
    startedAt,
  });
}

/**
 * Writes the files' chunks into the store, durably, and returns their entries: the first half of
 * a commit, which needs no lease (chunks are content-addressed and immutable). `previous` are
 * the files of the checkpoint before, whose unchanged ones are reused without being read.
 */
export async function captureToStore(
  store: Store,
  base: string,
  paths: readonly string[],
  options: Omit<CommitFilesOptions, 'step' | 'meta'>,
  previous: PreviousFiles | undefined,
): Promise<{ entries: Entry[]; stats: Omit<SaveStats, 'durationMs'> }> {
  const writer = new ChunkWriter(store.root, options.compression, { index: await store.chunkIndex() });
  let entries: Entry[];
  try {
    entries = await captureFiles(writer, base, paths, {
      growing: options.growing,
      expected: options.expected,
      previous,
    });
  } catch (error) {
    // Lets the writes still in flight end, and removes what they wrote, before the error goes up:
    // a file that kept changing would otherwise leave its copies of every attempt in the store.
    await writer.abandon().catch(() => {});
    throw error;
  }
  return { entries, stats: await writer.finish() };
}

/**
 * The file entries of the store's newest readable checkpoint, for unchanged files to be reused;
 * of a multi-rank checkpoint, those of `rank` (rank 0 for a single-rank commit).
 */
export async function previousFiles(store: Store, rank = 0): Promise<PreviousFiles | undefined> {
  const manifest = await store.newestManifest();
  if (!manifest) return undefined;
  const entries = new Map<string, FileEntry>();
  for (const entry of manifest.entries) {
    if (entry.type === 'file' && (manifest.ranks === undefined || entry.rank === rank)) {
      const { rank: _rank, ...file } = entry;
      entries.set(entry.path, file as FileEntry);
    }
  }
  return { entries, committedMs: Date.parse(manifest.time) };
}
