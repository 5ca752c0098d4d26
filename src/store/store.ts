import { constants } from 'node:buffer';
import { promises as fsp, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CkptError,
  errnoCode,
  FormatError,
  IntegrityError,
  NoStoreError,
  NotFoundError,
  wrapIoError,
} from '../errors.js';
import { DIR_MODE, fsyncDir, writeFileAtomic } from './atomic-write.js';
import {
  assertChunkDir,
  type ChunkRef,
  chunkFilePath,
  DEFAULT_IO_CONCURRENCY,
  storedSizeProblem,
  verifyChunk,
} from './chunk-read.js';
import { appendJournal } from './journal.js';
import {
  CHUNKS_DIR,
  MANIFESTS_DIR,
  MAX_MANIFEST_BYTES,
  MAX_SMALL_FILE_BYTES,
  manifestPath,
  parseManifestName,
  STORE_FORMAT_VERSION,
  STORE_ID_FILE,
} from './layout.js';
import type { Lease } from './lease.js';
import {
  type Entry,
  type Manifest,
  manifestChunks,
  NewerFormatError,
  parseManifest,
  type SaveStats,
  serializeManifest,
} from './manifest.js';
import { assertRealDir, readStoreFile } from './safe-fs.js';
import type { ChunkIndex } from './trust.js';
import { forEachConcurrently } from './worker-pool.js';
import { currentWriter } from './writer-info.js';

/** A value's arrays are loaded whole: larger blobs cannot be restored in this process. */
const MAX_BUFFER_BYTES = constants.MAX_LENGTH;

export interface OpenStoreOptions {
  /** Create the directory and the store's skeleton if missing (default false). */
  create?: boolean;
}

/** Why a checkpoint was passed over. */
export interface SkippedCheckpoint {
  seq: number;
  reason: string;
}

/** A checkpoint's manifest, or the reason it cannot be read. */
export type ScannedCheckpoint =
  | { seq: number; manifest: Manifest }
  | {
      seq: number;
      problem: string /** Written by a newer ckpt: not damaged, never removed. */;
      newer: boolean;
    };

/**
 * What a reader knows of one checkpoint: its manifest when that parses, and why it cannot be
 * restored when it cannot. `verified` says how far its chunks were checked: `shallow` (each present
 * as a regular file of the recorded size) or `deep` (every byte hashed).
 */
export interface CheckpointHealth {
  seq: number;
  manifest: Manifest | undefined;
  problem: string | undefined;
  /** Written by a newer ckpt: not damaged, never removed. */
  newer: boolean;
  verified: 'none' | 'shallow' | 'deep';
}

/** Something that went wrong without failing the operation (the CLI prints it on stderr). */
export interface StoreWarning {
  code: string;
  message: string;
}

export interface CommitDraft {
  step: number;
  entries: Entry[];
  meta: Record<string, unknown>;
  stats: Omit<SaveStats, 'durationMs'>;
  startedAt: number;
}

/**
 * An open checkpoint store: a directory of immutable chunks and manifests (docs/format.md).
 * Reading needs no lease; committing needs the store's {@link Lease}.
 */
export class Store {
  private readonly warnings: StoreWarning[] = [];
  /** The chunk list and file mtime of each manifest read by {@link chunkIndex} (manifests never change). */
  private readonly indexed = new Map<number, { mtimeMs: number; refs: ChunkRef[] }>();

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
    const idPath = join(root, STORE_ID_FILE);
    let id: string | undefined;
    let version = STORE_FORMAT_VERSION;
    try {
      id = (await readStoreFile(idPath, 'store identity file', MAX_SMALL_FILE_BYTES)).toString('utf8');
    } catch (error) {
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw wrapIoError(error, 'opening store', root);
    }
    if (id === undefined) {
      if (!options.create) throw await missingStore(root);
      await createSkeleton(root);
    } else {
      version = checkStoreId(id, idPath);
    }
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
  async checkChunksPresent(manifest: Manifest): Promise<string | undefined> {
    const seen = new Set<string>();
    const stats = new Map<string, Promise<Stats>>();
    for (const ref of manifestChunks(manifest)) {
      if (seen.has(ref.h)) continue;
      seen.add(ref.h);
      const problem = await chunkProblem(this.root, ref, stats);
      if (problem) return problem;
    }
    return undefined;
  }

  /**
   * Reads and hashes every chunk of `manifest` (chunks this process wrote or verified unchanged
   * since are not read again). Returns the first problem, or undefined.
   */
  async checkChunksDeep(manifest: Manifest): Promise<string | undefined> {
    const huge = manifest.entries.find((e) => e.type === 'blob' && e.size > MAX_BUFFER_BYTES);
    if (huge?.type === 'blob')
      return `entry \`${huge.key}\` declares ${huge.size} bytes, more than one buffer can hold`;
    const unique = new Map<string, ChunkRef>();
    for (const ref of manifestChunks(manifest)) unique.set(ref.h, ref);
    let problem: string | undefined;
    await forEachConcurrently([...unique.values()], DEFAULT_IO_CONCURRENCY, async (ref) => {
      try {
        await verifyChunk(this.root, ref);
      } catch (error) {
        if (!(error instanceof CkptError)) throw error;
        problem ??= error.message;
        throw error;
      }
    }).catch((error: unknown) => {
      if (!(error instanceof CkptError)) throw error;
    });
    return problem;
  }

  /**
   * The health of every checkpoint, oldest first: what restore would find. Each manifest is
   * checked shallowly ({@link checkChunksPresent}); with `deepFirst`, the newest ones that pass are
   * also read and hashed until one passes, so the first healthy one from the end is exactly the
   * one a restore would use. Checkpoints pruned meanwhile are left out.
   */
  async health(options: { deepFirst?: boolean } = {}): Promise<CheckpointHealth[]> {
    const out: CheckpointHealth[] = [];
    for (const item of await this.scan()) {
      if ('problem' in item) {
        out.push({
          seq: item.seq,
          manifest: undefined,
          problem: item.problem,
          newer: item.newer,
          verified: 'none',
        });
        continue;
      }
      const problem = await this.checkChunksPresent(item.manifest);
      if (problem && !(await this.exists(item.seq))) continue;
      out.push({ seq: item.seq, manifest: item.manifest, problem, newer: false, verified: 'shallow' });
    }
    if (options.deepFirst) {
      for (const item of [...out].reverse()) {
        if (item.problem || !item.manifest) continue;
        item.problem = await this.checkChunksDeep(item.manifest);
        item.verified = 'deep';
        if (!item.problem) break;
      }
    }
    return out;
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

  /** Marks a version 1 store as version 2 before its first v2 checkpoint (older ckpt then refuses it). */
  private async upgradeFormat(): Promise<void> {
    if (this.formatVersion >= STORE_FORMAT_VERSION) return;
    const path = join(this.root, STORE_ID_FILE);
    const old = JSON.parse(
      (await readStoreFile(path, 'store identity file', MAX_SMALL_FILE_BYTES)).toString('utf8'),
    );
    const id = { ...old, version: STORE_FORMAT_VERSION, upgraded: new Date().toISOString() };
    await writeFileAtomic(path, Buffer.from(`${JSON.stringify(id)}\n`));
    this.formatVersion = STORE_FORMAT_VERSION;
  }

  /**
   * Writes the manifest of a new checkpoint, the step that makes it exist. Chunks must be
   * durable already. Checks the lease right before writing, so a fenced writer never commits.
   */
  async commit(lease: Lease, draft: CommitDraft): Promise<Manifest> {
    await lease.assertHeld();
    await this.upgradeFormat();
    // Under `ckpt run` the supervisor and its program may commit at once: link() refuses an
    // existing name, so the loser takes the next number.
    for (let attempt = 0; ; attempt++) {
      const seqs = await this.listSeqs();
      const manifest: Manifest = {
        format: 'ckpt-manifest',
        version: STORE_FORMAT_VERSION,
        seq: (seqs.at(-1) ?? 0) + 1,
        step: draft.step,
        time: new Date().toISOString(),
        writer: currentWriter(),
        entries: draft.entries,
        meta: draft.meta,
        stats: { ...draft.stats, durationMs: Math.round(performance.now() - draft.startedAt) },
      };
      try {
        await writeFileAtomic(manifestPath(this.root, manifest.seq), serializeManifest(manifest), {
          exclusive: true,
        });
      } catch (error) {
        if (errnoCode((error as { cause?: unknown }).cause) === 'EEXIST' && attempt < 20) continue;
        throw error;
      }
      // NOTE: fencing. A takeover between the check above and the write would let a stale
      // writer commit once; checking again and withdrawing the manifest closes that window.
      try {
        await lease.assertHeld();
      } catch (error) {
        await this.removeManifest(manifest.seq);
        await this.syncManifests();
        throw error;
      }
      const { bytes, writtenBytes, durationMs } = manifest.stats;
      // The checkpoint exists from here on: a journal that cannot take the line (full disk,
      // a planted symlink) is a warning, not a failed commit.
      await appendJournal(this.root, 'commit', {
        seq: manifest.seq,
        step: manifest.step,
        bytes,
        writtenBytes,
        durationMs,
      }).catch((error: unknown) => {
        this.warn({
          code: 'JOURNAL_APPEND_FAILED',
          message: `Checkpoint #${manifest.seq} is committed, but its journal line was not written: ${error instanceof Error ? error.message : String(error)}`,
        });
      });
      return manifest;
    }
  }

  /** Deletes one manifest (its chunks stay until `gc`). */
  async removeManifest(seq: number): Promise<void> {
    const path = manifestPath(this.root, seq);
    // Inside the real manifests directory: a directory planted under a manifest's name goes too.
    await fsp.rm(path, { force: true, recursive: true }).catch((error: unknown) => {
      throw wrapIoError(error, 'removing manifest', path);
    });
  }

  /** fsync the manifests directory after removals. */
  async syncManifests(): Promise<void> {
    await fsyncDir(join(this.root, MANIFESTS_DIR));
  }
}

async function createSkeleton(root: string): Promise<void> {
  try {
    await fsp.mkdir(root, { recursive: true, mode: DIR_MODE });
    await fsp.mkdir(join(root, CHUNKS_DIR), { recursive: true, mode: DIR_MODE });
    await fsp.mkdir(join(root, MANIFESTS_DIR), { recursive: true, mode: DIR_MODE });
  } catch (error) {
    throw wrapIoError(error, 'creating store', root);
  }
  const id = { format: 'ckpt-store', version: STORE_FORMAT_VERSION, created: new Date().toISOString() };
  try {
    await writeFileAtomic(join(root, STORE_ID_FILE), Buffer.from(`${JSON.stringify(id)}\n`), {
      exclusive: true,
    });
  } catch (error) {
    // Another process created it at the same moment: theirs is as good as ours.
    if (errnoCode((error as { cause?: unknown }).cause) !== 'EEXIST') throw error;
  }
  await fsyncDir(join(root, '..')).catch(() => {});
}

/**
 * Why one chunk reference cannot be read, judged from lstat alone; undefined when it looks right.
 * `stats` caches the lstat of each pack for one manifest.
 */
async function chunkProblem(
  root: string,
  ref: ChunkRef,
  stats: Map<string, Promise<Stats>>,
): Promise<string | undefined> {
  const path = chunkFilePath(root, ref);
  try {
    await assertChunkDir(root, ref);
    let stat = stats.get(path);
    if (!stat) {
      stat = fsp.lstat(path);
      stats.set(path, stat);
    }
    return storedSizeProblem(ref, await stat);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT')
      return ref.p !== undefined ? `pack ${ref.p} of chunk ${ref.h} is missing` : `chunk ${ref.h} is missing`;
    if (error instanceof CkptError) return error.message;
    return wrapIoError(error, 'checking chunk', path).message;
  }
}

function checkStoreId(text: string, path: string): number {
  let id: { format?: unknown; version?: unknown };
  try {
    id = JSON.parse(text) as typeof id;
  } catch {
    throw new FormatError(`Store identity file \`${path}\` is not valid JSON.`, {
      hint: `Restore it as {"format":"ckpt-store","version":${STORE_FORMAT_VERSION}}, or point --store at the right directory.`,
    });
  }
  if (id.format !== 'ckpt-store' || typeof id.version !== 'number') {
    throw new FormatError(`\`${path}\` does not describe a ckpt store.`);
  }
  if (id.version > STORE_FORMAT_VERSION) {
    throw new FormatError(
      `Store at \`${path}\` has format version ${id.version}; this ckpt reads up to version ${STORE_FORMAT_VERSION}.`,
      { hint: 'Upgrade ckpt (npm install -g ckpt@latest) to read this store.' },
    );
  }
  return id.version;
}

async function missingStore(root: string): Promise<NoStoreError> {
  const exists = await fsp.stat(root).then(
    () => true,
    () => false,
  );
  return exists
    ? new NoStoreError(`\`${root}\` is not a ckpt store (it has no ${STORE_ID_FILE}).`, {
        hint: 'Point --store (or CKPT_STORE) at a store directory. A store is created by the first save or `ckpt commit`.',
      })
    : new NoStoreError(`No store at \`${root}\`.`, {
        hint: 'Pass --store DIR or set CKPT_STORE. A store is created by the first save or `ckpt commit`.',
      });
}
