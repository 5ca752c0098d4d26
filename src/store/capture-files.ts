import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { errnoCode, IoError, UsageError, wrapIoError } from '../errors.js';
import type { ChunkRef } from './chunk-read.js';
import type { ChunkWriter } from './chunk-store.js';
import { chunkStream } from './file-chunks.js';
import { entryHash } from './hash.js';
import type { Entry, FileEntry } from './manifest.js';
import { RESERVED_PREFIX, storedPathUnder, symlinkStaysInside } from './paths.js';

/** How often a file that keeps changing while read is retried before giving up. */
const MAX_READ_ATTEMPTS = 3;

/** What a completeness check saw of a file: a capture commits it only if it still is this. */
export interface FileIdentity {
  size: number;
  mtimeMs: number;
  ino: number;
}

/**
 * The file entries of the newest checkpoint and when it was committed: a file whose size, mtime,
 * inode and ctime are all unchanged since is taken from it without being read again (as git's
 * index and restic's parent snapshot do), if its chunks are still intact.
 */
export interface PreviousFiles {
  entries: ReadonlyMap<string, FileEntry>;
  committedMs: number;
}

/**
 * A file whose ctime was this close to the previous commit may have changed again within the same
 * clock tick after it was read ("racily clean" in git's terms): it is read again.
 */
export const RACY_MARGIN_MS = 2000;

/** How the files of one commit are read: growing logs, the identities a check saw, the previous entries. */
export interface CaptureOptions {
  /** Paths of files that may keep growing (logs): captured up to their size when opened. */
  growing?: ReadonlySet<string> | undefined;
  /** What a completeness check saw of each file: a file that differs now fails the commit. */
  expected?: ReadonlyMap<string, FileIdentity> | undefined;
  previous?: PreviousFiles | undefined;
}

/**
 * Thrown when a file is no longer what the completeness check saw (rewritten, truncated or
 * replaced since): the capture commits nothing, and tries again later.
 */
export class FileChangedError extends IoError {}

/**
 * Stores the files and directories named by `paths` (recursively) as entries relative to
 * `base`. Files are cut into anchored chunks (chunker.ts), so a file that changed in parts writes
 * only the changed chunks. A file that changes while being read is read again; paths outside
 * `base` are refused.
 */
export async function captureFiles(
  writer: ChunkWriter,
  base: string,
  paths: readonly string[],
  options: CaptureOptions = {},
): Promise<Entry[]> {
  const root = resolve(base);
  const context: Context = {
    writer,
    root,
    growing: options.growing ?? new Set(),
    expected: options.expected ?? new Map(),
    previous: options.previous,
  };
  const entries = new Map<string, Entry>();
  for (const given of paths) {
    const abs = resolve(root, given);
    const stored = storedPathUnder(root, abs);
    if (stored === undefined) {
      throw new UsageError(`Path \`${given}\` is not inside \`${root}\`.`, {
        hint: 'Commit paths below the working directory (or the directory given with --cwd).',
      });
    }
    await captureTree(context, stored, entries);
  }
  return [...entries.values()].sort((a, b) => entryName(a).localeCompare(entryName(b)));
}

/** The entries of a directory, sorted; a name that is not valid UTF-8 gets a clear refusal. */
async function listNames(abs: string): Promise<string[]> {
  const raw = await fsp.readdir(abs, { encoding: 'buffer' }).catch((error: unknown) => {
    throw wrapIoError(error, 'listing', abs);
  });
  return raw
    .map((name) => {
      const text = name.toString('utf8');
      if (!Buffer.from(text, 'utf8').equals(name)) {
        throw new UsageError(
          `Cannot commit \`${abs}\`: it holds a file whose name is not valid UTF-8 (bytes ${name.toString('hex')}), which a manifest cannot record.`,
          {
            hint: 'Rename that file to a UTF-8 name (for example with `mv` and a shell glob), or commit the other paths one by one.',
          },
        );
      }
      return text;
    })
    .sort();
}

function entryName(entry: Entry): string {
  return entry.type === 'blob' ? entry.key : entry.path;
}

interface Context {
  writer: ChunkWriter;
  root: string;
  growing: ReadonlySet<string>;
  expected: ReadonlyMap<string, FileIdentity>;
  previous: PreviousFiles | undefined;
}

async function captureTree(context: Context, stored: string, out: Map<string, Entry>): Promise<void> {
  const { writer, root, growing, expected } = context;
  if (out.has(stored)) return;
  const abs = join(root, stored);
  let stat: Awaited<ReturnType<typeof fsp.lstat>>;
  try {
    stat = await fsp.lstat(abs);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new UsageError(`Cannot commit \`${stored}\`: no such file or directory.`, {
        hint: 'Check the path; it is taken relative to the working directory.',
      });
    }
    throw wrapIoError(error, 'reading', abs);
  }
  if (stat.isDirectory()) {
    out.set(stored, { type: 'dir', path: stored, mode: stat.mode & 0o7777 });
    for (const name of await listNames(abs)) {
      // ckpt's own working files (set-aside copies, restore staging) are never state.
      if (name.startsWith(RESERVED_PREFIX)) continue;
      await captureTree(context, `${stored}/${name}`, out);
    }
  } else if (stat.isSymbolicLink()) {
    const target = await fsp.readlink(abs);
    if (!symlinkStaysInside(stored, target)) {
      throw new UsageError(
        `Cannot commit the symlink \`${stored}\` → \`${target}\`: a restore refuses links that are absolute or use \`..\`, so this checkpoint could never be used.`,
        {
          hint: 'Make the link relative and inside the directory, or commit the file it points to instead of the link.',
        },
      );
    }
    out.set(stored, { type: 'symlink', path: stored, target });
  } else if (stat.isFile()) {
    const unchanged = await unchangedSince(context, stored, stat);
    out.set(
      stored,
      unchanged ??
        (await captureFile(writer, abs, stored, {
          growing: growing.has(stored),
          expected: expected.get(stored),
          previous: context.previous?.entries.get(stored)?.chunks,
        })),
    );
  }
  // Sockets, FIFOs and devices are not state: skipped.
}

/** How {@link captureFile} reads one file. */
export interface CaptureFileOptions {
  /** A log the program keeps appending to: taken up to its size when opened, without the retry. */
  growing?: boolean | undefined;
  /** What a completeness check saw: a file that differs fails the commit. */
  expected?: FileIdentity | undefined;
  /** The chunks of the file's previous version: those unchanged in place are kept unhashed. */
  previous?: readonly ChunkRef[] | undefined;
}

/** Reads one file into chunks, retrying if it changes underneath (see {@link CaptureFileOptions}). */
export async function captureFile(
  writer: ChunkWriter,
  abs: string,
  stored: string,
  options: CaptureFileOptions = {},
): Promise<FileEntry> {
  const { growing = false, expected, previous } = options;
  for (let attempt = 1; ; attempt++) {
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(abs, 'r');
      const before = await handle.stat();
      if (expected && !sameIdentity(before, expected)) throw changedSinceCheck(abs);
      const chunks = await chunkStream(
        writer,
        handle,
        growing ? before.size : Number.POSITIVE_INFINITY,
        previous,
      );
      const after = await fsp.stat(abs);
      const size = chunks.reduce((sum, c) => sum + c.n, 0);
      const unchanged = after.size === size && after.mtimeMs === before.mtimeMs && after.ino === before.ino;
      // NOTE: a file checked complete must be read exactly as checked: one rewritten meanwhile may
      // be half-written now (a writer killed mid-rewrite leaves it stable, but torn), so no retry.
      if (expected && !(unchanged && sameIdentity(after, expected))) throw changedSinceCheck(abs);
      if (unchanged || (growing && size === before.size)) {
        return {
          type: 'file',
          path: stored,
          mode: before.mode & 0o7777,
          size,
          mtimeMs: before.mtimeMs,
          ino: before.ino,
          ctimeMs: before.ctimeMs,
          hash: entryHash(chunks.map((c) => c.h)),
          chunks,
        };
      }
    } catch (error) {
      if (expected && errnoCode(error) === 'ENOENT') throw changedSinceCheck(abs);
      throw wrapIoError(error, 'reading', abs);
    } finally {
      await handle?.close();
    }
    if (attempt >= MAX_READ_ATTEMPTS) {
      throw new IoError(`File \`${abs}\` kept changing while being read (${attempt} attempts).`, {
        hint: 'Commit files after the program has finished writing them (ckpt commit runs after the write).',
      });
    }
  }
}

/**
 * The previous checkpoint's entry for `stored` when the file is provably unchanged since it was
 * read for it (same size, mtime, inode and ctime, the ctime older than that commit by
 * {@link RACY_MARGIN_MS}) and its chunks are still intact; otherwise undefined (read it).
 */
async function unchangedSince(
  context: Context,
  stored: string,
  stat: { size: number; mtimeMs: number; ino: number; ctimeMs: number; mode: number },
): Promise<FileEntry | undefined> {
  const before = context.previous?.entries.get(stored);
  if (!before || before.ino === undefined || before.ctimeMs === undefined) return undefined;
  const expected = context.expected.get(stored);
  if (expected && !sameIdentity(stat, expected)) return undefined;
  const same =
    stat.size === before.size &&
    stat.mtimeMs === before.mtimeMs &&
    stat.ino === before.ino &&
    stat.ctimeMs === before.ctimeMs &&
    before.ctimeMs < context.previous!.committedMs - RACY_MARGIN_MS;
  if (!same || !(await context.writer.reuse(before.chunks))) return undefined;
  return { ...before, mode: stat.mode & 0o7777 };
}

function sameIdentity(stat: { size: number; mtimeMs: number; ino: number }, id: FileIdentity): boolean {
  return stat.size === id.size && stat.mtimeMs === id.mtimeMs && stat.ino === id.ino;
}

function changedSinceCheck(abs: string): FileChangedError {
  return new FileChangedError(`\`${abs}\` changed after it was checked complete; nothing was committed.`, {
    hint: 'The capture is tried again once the file is complete.',
  });
}
