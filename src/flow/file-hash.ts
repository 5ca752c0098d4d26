import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
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
const CACHE_FORMAT = 'ckpt-flow-hash-cache';

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
      const data = JSON.parse(await fsp.readFile(path, 'utf8')) as {
        format?: unknown;
        files?: Record<string, HashedFile>;
      };
      if (data.format === CACHE_FORMAT && data.files) {
        for (const [file, entry] of Object.entries(data.files)) hasher.entries.set(file, entry);
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

  /** The hash of the file at absolute `path`. Throws {@link MissingFileError} if it is not there. */
  async hash(path: string): Promise<HashedFile> {
    const before = await statFile(path);
    const known = this.entries.get(path);
    if (known && sameIdentity(known, before) && !isRacy(known)) return known;
    for (let attempt = 0; ; attempt++) {
      const hashedAtNs = (BigInt(Date.now()) * 1_000_000n).toString();
      const start = attempt === 0 ? before : await statFile(path);
      const hash = await hashFile(path);
      const after = await statFile(path);
      if (sameIdentity(start, after)) {
        const entry: HashedFile = { ...after, hash, hashedAtNs };
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
    const files = Object.fromEntries(this.entries);
    await writeFileAtomic(this.cachePath, Buffer.from(JSON.stringify({ format: CACHE_FORMAT, files })))
      .then(() => {
        this.dirty = false;
      })
      .catch(() => {});
  }
}

/** Whether two identities are of the same unchanged file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino && a.dev === b.dev;
}

function isRacy(entry: HashedFile): boolean {
  return BigInt(entry.mtimeNs) + RACY_WINDOW_NS >= BigInt(entry.hashedAtNs);
}

/** The identity of a regular file. Throws {@link MissingFileError} if there is none. */
export async function statFile(path: string): Promise<FileIdentity> {
  let stat: Awaited<ReturnType<typeof fsp.stat>> & { mtimeNs: bigint };
  try {
    stat = (await fsp.stat(path, { bigint: true })) as unknown as typeof stat;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') {
      throw new MissingFileError(`\`${path}\` does not exist.`, { cause: error });
    }
    throw wrapIoError(error, 'reading', path);
  }
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

async function hashFile(path: string): Promise<string> {
  const digest = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }))
      digest.update(chunk as Buffer);
  } catch (error) {
    throw wrapIoError(error, 'hashing', path);
  }
  return digest.digest('hex');
}
