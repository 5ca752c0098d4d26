import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  errnoCode,
  FormatError,
  IntegrityError,
  NoStoreError,
  NotFoundError,
  wrapIoError,
} from '../errors.js';
import { DIR_MODE, fsyncDir, writeFileAtomic } from './atomic-write.js';
import { appendJournal } from './journal.js';
import {
  CHUNKS_DIR,
  chunkPath,
  MANIFESTS_DIR,
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
import { currentWriter } from './writer-info.js';

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
  private constructor(readonly root: string) {}

  /** Opens the store at `dir`. Throws {@link NoStoreError} if there is none (and `create` is not set). */
  static async open(dir: string, options: OpenStoreOptions = {}): Promise<Store> {
    const root = resolve(dir);
    const idPath = join(root, STORE_ID_FILE);
    let id: string | undefined;
    try {
      id = await fsp.readFile(idPath, 'utf8');
    } catch (error) {
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw wrapIoError(error, 'opening store', root);
    }
    if (id === undefined) {
      if (!options.create) throw await missingStore(root);
      await createSkeleton(root);
    } else {
      checkStoreId(id, idPath);
    }
    return new Store(root);
  }

  /** Sequence numbers of all manifest files, oldest first (whether they verify or not). */
  async listSeqs(): Promise<number[]> {
    const dir = join(this.root, MANIFESTS_DIR);
    let names: string[];
    try {
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
      bytes = await fsp.readFile(path);
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

  /** Every checkpoint, oldest first, each with its manifest or the reason it cannot be read. */
  async scan(): Promise<ScannedCheckpoint[]> {
    const seqs = await this.listSeqs();
    return Promise.all(
      seqs.map(async (seq): Promise<ScannedCheckpoint> => {
        try {
          return { seq, manifest: await this.readManifest(seq) };
        } catch (error) {
          if (error instanceof IntegrityError || error instanceof FormatError) {
            return { seq, problem: error.message, newer: error instanceof NewerFormatError };
          }
          throw error;
        }
      }),
    );
  }

  /**
   * Checks that every chunk of `manifest` is present with the recorded size (raw chunks) without
   * reading the bytes. Returns the first problem, or undefined.
   */
  async checkChunksPresent(manifest: Manifest): Promise<string | undefined> {
    const seen = new Set<string>();
    for (const ref of manifestChunks(manifest)) {
      if (seen.has(ref.h)) continue;
      seen.add(ref.h);
      const path = chunkPath(this.root, ref.h, ref.z === 1);
      let size: number;
      try {
        size = (await fsp.stat(path)).size;
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return `chunk ${ref.h} is missing`;
        throw wrapIoError(error, 'checking chunk', path);
      }
      if (ref.z !== 1 && size !== ref.n)
        return `chunk ${ref.h} is ${size} bytes, expected ${ref.n} (truncated)`;
    }
    return undefined;
  }

  /**
   * Candidates for restore, newest first: the manifests that parse and whose chunks are all
   * present, plus the newer ones passed over and why. Contents are verified when read.
   */
  async candidates(): Promise<{ usable: Manifest[]; skipped: SkippedCheckpoint[] }> {
    const scanned = await this.scan();
    const usable: Manifest[] = [];
    const skipped: SkippedCheckpoint[] = [];
    for (const item of scanned.reverse()) {
      if ('problem' in item) {
        skipped.push({ seq: item.seq, reason: item.problem });
        continue;
      }
      const problem = await this.checkChunksPresent(item.manifest);
      if (problem) skipped.push({ seq: item.seq, reason: problem });
      else usable.push(item.manifest);
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
   * Writes the manifest of a new checkpoint, the step that makes it exist. Chunks must be
   * durable already. Checks the lease right before writing, so a fenced writer never commits.
   */
  async commit(lease: Lease, draft: CommitDraft): Promise<Manifest> {
    await lease.assertHeld();
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
      await appendJournal(this.root, 'commit', {
        seq: manifest.seq,
        step: manifest.step,
        bytes,
        writtenBytes,
        durationMs,
      });
      return manifest;
    }
  }

  /** Deletes one manifest (its chunks stay until `gc`). */
  async removeManifest(seq: number): Promise<void> {
    const path = manifestPath(this.root, seq);
    await fsp.rm(path, { force: true }).catch((error: unknown) => {
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

function checkStoreId(text: string, path: string): void {
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
