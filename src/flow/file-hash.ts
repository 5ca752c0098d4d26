import { createHash } from 'node:crypto';
import {
  type BigIntStats,
  closeSync,
  createReadStream,
  promises as fsp,
  fstatSync,
  openSync,
  readSync,
  statSync,
} from 'node:fs';
import { errnoCode, IoError, wrapIoError } from '../errors.js';
import { writeFileAtomic } from '../store/index.js';

/** What a file looked like when it was hashed: equal identity means equal content. */
export interface FileIdentity {
  size: number;
  /** mtime in nanoseconds, as a decimal string (beyond a double's precision). */
  mtimeNs: string;
  ino: number;
  dev: number;
}

/** A file's content hash (SHA-256 hex) and the identity it had. */
export interface HashedFile extends FileIdentity {
  hash: string;
  /** When the read started (ns since the epoch, decimal). */
  hashedAtNs: string;
}

/**
 * A file changed within this long before it was hashed may change again with the same mtime
 * (coarse or skewed clocks, NFS): such an entry is not trusted by a later check, which rereads.
 */
export const RACY_WINDOW_NS = 2_000_000_000n;
/**
 * The cache file: `{ format, files: [[path, size, mtimeNs, ino, dev, hash, hashedAtNs], …] }`
 * (rows, not objects: 100 000 entries parse in half the time). Another format is ignored.
 */
const CACHE_FORMAT = 'ckpt-flow-hash-cache/2';
/**
 * Files up to this size are read and hashed synchronously, in one read; larger ones are streamed
 * without blocking the event loop.
 */
export const SYNC_HASH_BYTES = 1 << 20;
const scratch = Buffer.allocUnsafe(SYNC_HASH_BYTES);

/** Thrown when an input or output file is not there. */
export class MissingFileError extends IoError {}

/**
 * Content hashes of files, cached by path, size, mtime, inode and device, so an unchanged file
 * is never reread, whatever its size. NOTE: an entry whose file changed within
 * {@link RACY_WINDOW_NS} of hashing is "racy" (a later write could keep size and mtime) and is
 * rehashed next time; git's index has the same rule.
 */
export class FileHasher {
  private readonly entries = new Map<string, HashedFile>();
  private dirty = false;

  private constructor(private readonly cachePath: string | undefined) {}

  /** A hasher with the entries of the cache file at `path` (a missing or damaged file is empty). */
  static async open(path: string | undefined): Promise<FileHasher> {
    const hasher = new FileHasher(path);
    if (path === undefined) return hasher;
    try {
      const data = JSON.parse(await fsp.readFile(path, 'utf8')) as { format?: unknown; files?: unknown };
      if (data.format === CACHE_FORMAT && Array.isArray(data.files)) {
        for (const row of data.files as unknown[]) {
          const entry = entryOf(row);
          if (entry) hasher.entries.set(entry[0], entry[1]);
        }
      }
    } catch {
      // no cache yet, or a damaged one: every file is hashed afresh
    }
    return hasher;
  }

  /** Adds what another process hashed (a task's record), to be trusted under the same rules. */
  remember(path: string, entry: HashedFile): void {
    const known = this.entries.get(path);
    if (known && sameIdentity(known, entry) && known.hash === entry.hash) return;
    this.entries.set(path, entry);
    this.dirty = true;
  }

  /**
   * The hash of the file at absolute `path`. Throws {@link MissingFileError} if it is not there.
   * NOTE: a plan stats every input of every task, so the stat and the read of a small file are
   * synchronous: an asynchronous call per file costs a thread-pool round trip each, which made
   * stat-only plans of 100 000 files take seconds. Files above {@link SYNC_HASH_BYTES} are
   * streamed, so a head never blocks on a large read.
   */
  async hash(path: string): Promise<HashedFile> {
    return this.hashNow(path);
  }

  /**
   * The hash of the file at absolute `path` when the cache vouches for it as it is now, without
   * a promise (a plan asks this of 100 000 inputs); otherwise {@link hash} reads it. Throws
   * {@link MissingFileError} if it is not there.
   */
  hashNow(path: string): HashedFile | Promise<HashedFile> {
    const before = statFile(path);
    return this.unchanged(path, before) ?? this.hashChanged(path, before);
  }

  /** The cached entry of `path` if its file still has identity `now` and the entry is not racy. */
  private unchanged(path: string, now: FileIdentity): HashedFile | undefined {
    const known = this.entries.get(path);
    return known && sameIdentity(known, now) && !isRacy(known) ? known : undefined;
  }

  private async hashChanged(path: string, before: FileIdentity): Promise<HashedFile> {
    for (let attempt = 0; ; attempt++) {
      const hashedAtNs = (BigInt(Date.now()) * 1_000_000n).toString();
      const start = attempt === 0 ? before : statFile(path);
      const read = start.size <= SYNC_HASH_BYTES ? hashSmallFile(path) : await hashLargeFile(path);
      if (sameIdentity(start, read.after)) {
        const entry: HashedFile = { ...read.after, hash: read.hash, hashedAtNs };
        this.entries.set(path, entry);
        this.dirty = true;
        return entry;
      }
      if (attempt >= 2) {
        throw new IoError(`\`${path}\` keeps changing while it is hashed.`, {
          hint: 'Wait until whatever writes it has finished.',
        });
      }
    }
  }

  /** Writes the cache file (atomically) if anything changed. Best effort: a cache is optional. */
  async save(): Promise<void> {
    if (!this.dirty || this.cachePath === undefined) return;
    const files = [...this.entries].map(([file, e]) => [
      file,
      e.size,
      e.mtimeNs,
      e.ino,
      e.dev,
      e.hash,
      e.hashedAtNs,
    ]);
    await writeFileAtomic(this.cachePath, Buffer.from(JSON.stringify({ format: CACHE_FORMAT, files })))
      .then(() => {
        this.dirty = false;
      })
      .catch(() => {});
  }
}

/** A cache row as [path, entry], or undefined when it is not one (then the file is hashed anew). */
function entryOf(row: unknown): [string, HashedFile] | undefined {
  if (!Array.isArray(row) || row.length < 7) return undefined;
  const [path, size, mtimeNs, ino, dev, hash, hashedAtNs] = row as unknown[];
  if (
    typeof path !== 'string' ||
    typeof size !== 'number' ||
    typeof mtimeNs !== 'string' ||
    typeof ino !== 'number' ||
    typeof dev !== 'number' ||
    typeof hash !== 'string' ||
    typeof hashedAtNs !== 'string'
  ) {
    return undefined;
  }
  return [path, { size, mtimeNs, ino, dev, hash, hashedAtNs }];
}

/** Whether two identities are of the same unchanged file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

function isRacy(entry: HashedFile): boolean {
  // As doubles: a rounding of some 100 ns does not matter beside a window of 2 s.
  return Number(entry.mtimeNs) + Number(RACY_WINDOW_NS) >= Number(entry.hashedAtNs);
}

/** The identity of a regular file. Throws {@link MissingFileError} if there is none. */
export function statFile(path: string): FileIdentity {
  let stat: BigIntStats;
  try {
    stat = statSync(path, { bigint: true });
  } catch (error) {
    throw statError(error, path);
  }
  return identityOf(stat, path);
}

function statError(error: unknown, path: string): Error {
  if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') {
    return new MissingFileError(`\`${path}\` does not exist.`, { cause: error });
  }
  return wrapIoError(error, 'reading', path);
}

function identityOf(stat: BigIntStats, path: string): FileIdentity {
  if (!stat.isFile()) {
    throw new IoError(`\`${path}\` is not a regular file.`, {
      hint: 'Inputs and outputs of a step are files; list the files of a directory (or a glob).',
    });
  }
  return {
    size: Number(stat.size),
    mtimeNs: stat.mtimeNs.toString(),
    ino: Number(stat.ino),
    dev: Number(stat.dev),
  };
}

/** A file's hash and its identity once read (to compare with the one before). */
interface HashRead {
  hash: string;
  after: FileIdentity;
}

/** Reads a small file in one go and hashes it; `after` is the open file's identity after the read. */
function hashSmallFile(path: string): HashRead {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw statError(error, path);
  }
  try {
    const digest = createHash('sha256');
    for (;;) {
      const n = readSync(fd, scratch, 0, scratch.byteLength, null);
      if (n === 0) break;
      digest.update(scratch.subarray(0, n));
    }
    return { hash: digest.digest('hex'), after: identityOf(fstatSync(fd, { bigint: true }), path) };
  } catch (error) {
    throw error instanceof IoError ? error : wrapIoError(error, 'hashing', path);
  } finally {
    closeSync(fd);
  }
}

async function hashLargeFile(path: string): Promise<HashRead> {
  const digest = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }))
      digest.update(chunk as Buffer);
  } catch (error) {
    throw wrapIoError(error, 'hashing', path);
  }
  return { hash: digest.digest('hex'), after: statFile(path) };
}
