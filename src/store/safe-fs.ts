import { constants, promises as fsp, type Stats } from 'node:fs';
import { errnoCode, IntegrityError, UnsafePathError, wrapIoError } from '../errors.js';

/**
 * File access for a store whose every byte is untrusted (docs/format.md, "Trust").
 *
 * NOTE: ckpt never creates a symlink, FIFO or device inside a store, so any such thing there was
 * planted or damaged. Files are opened with O_NOFOLLOW (a planted link is never followed) and
 * O_NONBLOCK (a FIFO in a file's place cannot hang the open), then checked with fstat to be
 * regular files before a byte is read; directories are checked with lstat before ckpt reads,
 * writes or deletes inside them.
 */

/** What kind of thing sits at a path, without following a symlink there. */
export function describeKind(stat: Stats): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symlink';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  return 'a device';
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens a store file for reading. Throws {@link IntegrityError} when `path` is not a regular file
 * (a symlink, FIFO, directory or device) and lets ENOENT through as the system error, so callers
 * can tell "missing" from "damaged".
 */
export async function openStoreFile(
  path: string,
  what: string,
): Promise<{ handle: fsp.FileHandle; stat: Stats }> {
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(path, READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') throw error;
    if (code === 'ELOOP' || code === 'EISDIR' || code === 'ENXIO') {
      const kind = await fsp.lstat(path).then(describeKind, () => 'not a regular file');
      throw notRegular(what, path, kind);
    }
    throw wrapIoError(error, `reading ${what}`, path);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegular(what, path, describeKind(stat));
    return { handle, stat };
  } catch (error) {
    await handle.close().catch(() => {});
    throw wrapIoError(error, `reading ${what}`, path);
  }
}

/**
 * Reads a whole store file of at most `maxBytes`. Throws {@link IntegrityError} for a non-regular
 * file or one larger than the bound (no memory is allocated for it); ENOENT passes through.
 */
export async function readStoreFile(path: string, what: string, maxBytes: number): Promise<Buffer> {
  const { handle, stat } = await openStoreFile(path, what);
  try {
    if (stat.size > maxBytes) {
      throw new IntegrityError(
        `The ${what} \`${path}\` is ${stat.size} bytes, more than the ${maxBytes} a valid one can have.`,
        { hint: 'The file is damaged or not ckpt’s; the checkpoint it belongs to is skipped.' },
      );
    }
    const buffer = Buffer.allocUnsafe(stat.size);
    let done = 0;
    while (done < stat.size) {
      const { bytesRead } = await handle.read(buffer, done, stat.size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buffer.subarray(0, done);
  } catch (error) {
    throw wrapIoError(error, `reading ${what}`, path);
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * Checks that `path` is a real directory (not a symlink to one) before ckpt lists, writes or
 * deletes inside it. Returns false when nothing is there; throws {@link UnsafePathError} otherwise.
 */
export async function assertRealDir(path: string, what: string): Promise<boolean> {
  let stat: Stats;
  try {
    stat = await fsp.lstat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw wrapIoError(error, `checking ${what}`, path);
  }
  if (stat.isDirectory()) return true;
  throw new UnsafePathError(
    `The store's ${what} \`${path}\` is ${describeKind(stat)}, not a directory: refusing to use it.`,
    {
      hint: `ckpt never creates ${describeKind(stat)} inside a store. Remove \`${path}\` (rm, not rm -r) and run \`ckpt verify\`.`,
    },
  );
}

function notRegular(what: string, path: string, kind: string): IntegrityError {
  return new IntegrityError(`The ${what} \`${path}\` is ${kind}, not a regular file.`, {
    hint: 'ckpt writes only regular files into a store; this one was planted or damaged. Remove it and run `ckpt verify`.',
  });
}
