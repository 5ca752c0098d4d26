import { captureFiles, type FileIdentity, type PreviousFiles } from './capture-files.js';
import { ChunkWriter } from './chunk-store.js';
import type { CompressionMode } from './compress.js';
import type { Lease } from './lease.js';
import type { FileEntry, Manifest } from './manifest.js';
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
  const writer = new ChunkWriter(store.root, options.compression, { index: await store.chunkIndex() });
  let entries: Awaited<ReturnType<typeof captureFiles>>;
  try {
    entries = await captureFiles(writer, base, paths, {
      growing: options.growing,
      expected: options.expected,
      previous: await previousFiles(store),
    });
  } catch (error) {
    // Lets the writes still in flight end, and removes what they wrote, before the error goes up:
    // a file that kept changing would otherwise leave its copies of every attempt in the store.
    await writer.abandon().catch(() => {});
    throw error;
  }
  const stats = await writer.finish();
  return store.commit(lease, {
    step: options.step,
    entries,
    meta: options.meta ?? {},
    stats,
    startedAt,
  });
}

/** The file entries of the store's newest readable checkpoint, for unchanged files to be reused. */
async function previousFiles(store: Store): Promise<PreviousFiles | undefined> {
  const manifest = await store.newestManifest();
  if (!manifest) return undefined;
  const entries = new Map<string, FileEntry>();
  for (const entry of manifest.entries) if (entry.type === 'file') entries.set(entry.path, entry);
  return { entries, committedMs: Date.parse(manifest.time) };
}
