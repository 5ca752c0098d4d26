import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { CkptError, errnoCode, IntegrityError, NotFoundError, wrapIoError } from '../errors.js';
import { fsyncDir } from './atomic-write.js';
import {
  type CheckpointHealth,
  checkChunksDeep,
  checkChunksPresent,
  type SkippedCheckpoint,
  storeHealth,
} from './checkpoint-health.js';
import type { ChunkRef } from './chunk-read.js';
import { type CommitDraft, commitManifest } from './commit-manifest.js';
import {
  CHUNKS_DIR,
  MANIFESTS_DIR,
  MAX_MANIFEST_BYTES,
  manifestPath,
  parseManifestName,
  STORE_FORMAT_VERSION,
} from './layout.js';
import type { Lease } from './lease.js';
import { type Manifest, manifestChunks, NewerFormatError, parseManifest } from './manifest.js';
import { assertRealDir, readStoreFile } from './safe-fs.js';
import { readStoreVersion, upgradeStoreVersion } from './store-identity.js';
import type { ChunkIndex } from './trust.js';

/** How {@link Store.open} opens a store. */
export interface OpenStoreOptions {
  /** Create the directory and the store's skeleton if missing (default false). */
  create?: boolean;
}

/** A checkpoint's manifest, or the reason it cannot be read. */
export type ScannedCheckpoint =
  | { seq: number; manifest: Manifest }
  | {
      seq: number;
      problem: string /** Written by a newer ckpt: not damaged, never removed. */;
      newer: boolean;
    };

/** Something that went wrong without failing the operation (the CLI prints it on stderr). */
export interface StoreWarning {
  code: string;
  message: string;
}

/**
 * An open checkpoint store: a directory of immutable chunks and manifests (docs/format.md).
 * Reading needs no lease; committing needs the store's {@link Lease}.
 */
export class Store {
  private readonly warnings: StoreWarning[] = [];
  /** The chunk list and file mtime of each manifest read by {@link chunkIndex} (manifests never change). */
  private readonly indexed = new Map<number, { mtimeMs: number; refs: ChunkRef[] }>();
  /** The newest manifest {@link chunkIndex} parsed, for {@link newestManifest}. */
  private newest: Manifest | undefined;

  private constructor(
    readonly root: string,
    private formatVersion: number,
  ) {}

  /**
   * Opens the store at `dir`. Throws {@link NoStoreError} if there is none (and `create` is not
   * set), and {@link UnsafePathError} when its `chunks/` or `manifests/` is a symlink or not a
   * directory. The root itself may be a symlink: it is resolved once, and nothing below it is
   * ever followed.
   */
  static async open(dir: string, options: OpenStoreOptions = {}): Promise<Store> {
    const given = resolve(dir);
    const root = await fsp.realpath(given).catch(() => given);
    const version = await readStoreVersion(root, options.create ?? false);
    await assertRealDir(join(root, CHUNKS_DIR), 'chunks directory');
    await assertRealDir(join(root, MANIFESTS_DIR), 'manifests directory');
    return new Store(root, version);
  }

  /** Records a warning for the caller (see {@link takeWarnings}). */
  warn(warning: StoreWarning): void {
    this.warnings.push(warning);
  }

  /** Warnings gathered since the last call (a journal line that could not be written…), then cleared. */
  takeWarnings(): StoreWarning[] {
    return this.warnings.splice(0);
  }

  /** Sequence numbers of all manifest files, oldest first (whether they verify or not). */
  async listSeqs(): Promise<number[]> {
    const dir = join(this.root, MANIFESTS_DIR);
    let names: string[];
    try {
      await assertRealDir(dir, 'manifests directory');
      names = await fsp.readdir(dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return [];
      throw wrapIoError(error, 'listing manifests in', dir);
    }
    return names
      .map(parseManifestName)
      .filter((seq): seq is number => seq !== undefined)
      .sort((a, b) => a - b);
  }

  /** Reads and checks one manifest. Throws {@link NotFoundError}, {@link IntegrityError} or {@link FormatError}. */
  async readManifest(seq: number): Promise<Manifest> {
    const path = manifestPath(this.root, seq);
    let bytes: Buffer;
    try {
      bytes = await readStoreFile(path, 'manifest', MAX_MANIFEST_BYTES);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') {
        throw new NotFoundError(`Checkpoint ${seq} does not exist in ${this.root}.`, {
          hint: 'Run `ckpt ls` to see the checkpoints in this store.',
        });
      }
      throw wrapIoError(error, 'reading manifest', path);
    }
    const manifest = parseManifest(bytes, `#${seq}`);
    if (manifest.seq !== seq) throw new IntegrityError(`Manifest #${seq} says it is #${manifest.seq}.`);
    return manifest;
  }

  /**
   * Every checkpoint, oldest first, each with its manifest or the reason it cannot be read
   * (damage, permissions, an I/O error, a newer format). A manifest that vanished since the
   * listing (a concurrent prune) is left out, not reported as damage.
   */
  async scan(): Promise<ScannedCheckpoint[]> {
    const seqs = await this.listSeqs();
    const items = await Promise.all(
      seqs.map(async (seq): Promise<ScannedCheckpoint | undefined> => {
        try {
          return { seq, manifest: await this.readManifest(seq) };
        } catch (error) {
          if (error instanceof NotFoundError) return undefined;
          if (error instanceof CkptError) {
            return { seq, problem: error.message, newer: error instanceof NewerFormatError };
          }
          throw error;
        }
      }),
    );
    return items.filter((item): item is ScannedCheckpoint => item !== undefined);
  }

  /** Whether checkpoint `seq`'s manifest file is still there (it may have been pruned meanwhile). */
  async exists(seq: number): Promise<boolean> {
    return fsp.lstat(manifestPath(this.root, seq)).then(
      () => true,
      () => false,
    );
  }

  /**
   * Checks that every chunk of `manifest` is present, as a regular file of a size its declared
   * length allows, without reading the bytes. Returns the first problem, or undefined.
   */
  checkChunksPresent(manifest: Manifest): Promise<string | undefined> {
    return checkChunksPresent(this.root, manifest);
  }

  /**
   * Reads and hashes every chunk of `manifest` (chunks this process wrote or verified unchanged
   * since are not read again). Returns the first problem, or undefined.
   */
  checkChunksDeep(manifest: Manifest): Promise<string | undefined> {
    return checkChunksDeep(this.root, manifest);
  }

  /**
   * The health of every checkpoint, oldest first: what restore would find. Each manifest is
   * checked shallowly ({@link checkChunksPresent}); with `deepFirst`, the newest ones that pass are
   * also read and hashed until one passes, so the first healthy one from the end is exactly the
   * one a restore would use. Checkpoints pruned meanwhile are left out.
   */
  health(options: { deepFirst?: boolean } = {}): Promise<CheckpointHealth[]> {
    return storeHealth(this, options);
  }

  /**
   * Candidates for restore, newest first: the manifests that parse and whose chunks are all
   * present, plus the newer ones passed over and why. Contents are verified when read.
   */
  async candidates(
    options: { deepFirst?: boolean } = {},
  ): Promise<{ usable: Manifest[]; skipped: SkippedCheckpoint[] }> {
    const usable: Manifest[] = [];
    const skipped: SkippedCheckpoint[] = [];
    for (const item of (await this.health(options)).reverse()) {
      if (item.manifest && !item.problem) usable.push(item.manifest);
      else skipped.push({ seq: item.seq, reason: item.problem ?? 'unreadable' });
    }
    return { usable, skipped };
  }

  /** Resolves `latest`, `latest~N` or a sequence number to the manifest (verified shallowly). */
  async resolve(ref: string): Promise<Manifest> {
    const back = /^latest(?:~(\d+))?$/.exec(ref);
    if (back) {
      const { usable } = await this.candidates();
      const manifest = usable[Number(back[1] ?? 0)];
      if (!manifest) {
        throw new NotFoundError(`No valid checkpoint matches \`${ref}\` in ${this.root}.`, {
          hint: 'Run `ckpt ls` to see what the store holds, and `ckpt why` for why checkpoints were skipped.',
        });
      }
      return manifest;
    }
    const seq = Number(ref.replace(/^#/, ''));
    if (!Number.isSafeInteger(seq) || seq < 1) {
      throw new NotFoundError(`\`${ref}\` is not a checkpoint id.`, {
        hint: 'Use a sequence number as shown by `ckpt ls`, or `latest`, or `latest~1` for the one before.',
      });
    }
    return this.readManifest(seq);
  }

  /**
   * Where the committed checkpoints keep each chunk, for a save to reuse: the newest manifest's
   * place for each hash, and that manifest file's mtime (see {@link ChunkIndex}). Manifests are
   * read once per Store; damaged or unreadable ones contribute nothing.
   */
  async chunkIndex(): Promise<ChunkIndex> {
    const seqs = await this.listSeqs();
    const live = new Set(seqs);
    for (const seq of this.indexed.keys()) if (!live.has(seq)) this.indexed.delete(seq);
    await Promise.all(
      seqs
        .filter((seq) => !this.indexed.has(seq))
        .map(async (seq) => {
          try {
            const manifest = await this.readManifest(seq);
            const stat = await fsp.lstat(manifestPath(this.root, seq));
            this.indexed.set(seq, { mtimeMs: stat.mtimeMs, refs: manifestChunks(manifest) });
            if (seq === seqs.at(-1)) this.newest = manifest;
          } catch (error) {
            if (!(error instanceof CkptError) && errnoCode(error) !== 'ENOENT') throw error;
          }
        }),
    );
    const index = new Map<string, { ref: ChunkRef; since: number }>();
    for (const seq of seqs) {
      const item = this.indexed.get(seq);
      if (!item) continue;
      for (const ref of item.refs) {
        const before = index.get(ref.h);
        index.set(ref.h, { ref, since: Math.max(item.mtimeMs, before?.since ?? 0) });
      }
    }
    return index;
  }

  /**
   * The newest checkpoint's manifest, or undefined when there is none or it cannot be read
   * (damaged, unreadable, a newer format). The one {@link chunkIndex} parsed is handed out, not
   * read and checked again.
   */
  async newestManifest(): Promise<Manifest | undefined> {
    const seq = (await this.listSeqs()).at(-1);
    if (seq === undefined) return undefined;
    if (this.newest?.seq === seq) return this.newest;
    return this.readManifest(seq).catch(() => undefined);
  }

  /**
   * Writes the manifest of a new checkpoint, the step that makes it exist. Chunks must be
   * durable already. Checks the lease right before writing, so a fenced writer never commits
   * (see {@link commitManifest}). A version 1 store is first marked version 2 (older ckpt then
   * refuses it).
   */
  async commit(lease: Lease, draft: CommitDraft): Promise<Manifest> {
    await lease.assertHeld();
    if (this.formatVersion < STORE_FORMAT_VERSION) {
      await upgradeStoreVersion(this.root);
      this.formatVersion = STORE_FORMAT_VERSION;
    }
    return commitManifest(this, lease, draft);
  }

  /** Deletes one manifest (its chunks stay until `gc`). */
  async removeManifest(seq: number): Promise<void> {
    const path = manifestPath(this.root, seq);
    // Inside the real manifests directory: a directory planted under a manifest's name goes too.
    await fsp.rm(path, { force: true, recursive: true }).catch((error: unknown) => {
      throw wrapIoError(error, 'removing manifest', path);
    });
  }

  /** Deletes manifests (their chunks stay until `gc`), then fsyncs the manifests directory once. */
  async removeManifests(seqs: Iterable<number>): Promise<void> {
    for (const seq of seqs) await this.removeManifest(seq);
    await fsyncDir(join(this.root, MANIFESTS_DIR));
  }
}
