import { captureFiles, type FileIdentity } from './capture-files.js';
import { ChunkWriter } from './chunk-store.js';
import type { CompressionMode } from './compress.js';
import type { Lease } from './lease.js';
import type { Manifest } from './manifest.js';
import type { Store } from './store.js';

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
  const writer = new ChunkWriter(store.root, options.compression);
  const entries = await captureFiles(writer, base, paths, options.growing, options.expected);
  const stats = await writer.finish();
  return store.commit(lease, {
    step: options.step,
    entries,
    meta: options.meta ?? {},
    stats,
    startedAt,
  });
}
