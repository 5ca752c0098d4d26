import { randomBytes } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { wrapIoError } from '../errors.js';

/** Mode of files ckpt creates (the process umask still applies). */
export const FILE_MODE = 0o600;
/** Mode of directories ckpt creates (the process umask still applies). */
export const DIR_MODE = 0o700;

/** A temp-file name beside `path` that cannot collide with another writer's. */
export function tmpPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Writes all of `data` at `position` (write(2) may write less than asked); returns the end position. */
export async function writeAll(handle: fsp.FileHandle, data: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
  return position + done;
}

/** fsync a directory so that renames and unlinks in it survive a power failure. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await handle.sync();
  } catch (error) {
    throw wrapIoError(error, 'syncing directory', dir);
  } finally {
    await handle?.close();
  }
}

/**
 * Creates `tmp` (which must not exist yet), lets `fill` write it, and makes its data durable:
 * open(O_EXCL, `mode`) → fill → fdatasync → close. The first half of every atomic write; the
 * caller then renames `tmp` into place and fsyncs the directory. On failure `tmp` is removed and
 * the error is thrown as it came.
 */
export async function writeTempFile(
  tmp: string,
  fill: (handle: fsp.FileHandle) => Promise<void>,
  mode: number = FILE_MODE,
): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx', mode);
    await fill(handle);
    await handle.datasync();
    await handle.close();
    handle = undefined;
  } catch (error) {
    await handle?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}

/** How {@link writeFileAtomic} writes. */
export interface AtomicWriteOptions {
  /** Mode of the new file (default {@link FILE_MODE}). */
  mode?: number;
  /** Skip the directory fsync when the caller syncs the directory once for many files. */
  syncDir?: boolean;
  /** Fail with EEXIST instead of replacing an existing file (link(2) semantics). */
  exclusive?: boolean;
}

/**
 * Writes `data` to `path` so that readers see either nothing or all of it:
 * tmp file → write → fsync(file) → rename (or link when exclusive) → fsync(directory).
 * On failure the tmp file is removed and the existing `path` is untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | readonly Uint8Array[],
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tmpPathFor(path);
  const parts = data instanceof Uint8Array ? [data] : data;
  try {
    await writeTempFile(
      tmp,
      async (handle) => {
        let position = 0;
        for (const part of parts) position = await writeAll(handle, part, position);
      },
      options.mode ?? FILE_MODE,
    );
    if (options.exclusive) {
      // link() fails if the target exists, unlike rename(): the first writer wins.
      await fsp.link(tmp, path);
      await fsp.unlink(tmp);
    } else {
      await fsp.rename(tmp, path);
    }
  } catch (error) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw wrapIoError(error, 'writing', path);
  }
  if (options.syncDir !== false) await fsyncDir(dirname(path));
}
