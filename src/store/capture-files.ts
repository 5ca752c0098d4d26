import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { errnoCode, IoError, UsageError, wrapIoError } from '../errors.js';
import { SCAN_IN_WORKERS_FROM, scanBlock, WARM_BYTES } from './cdc-scan.js';
import type { ChunkRef } from './chunk-read.js';
import type { ChunkWriter } from './chunk-store.js';
import { CutChain } from './chunker.js';
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
 * `base`. Files are cut into content-defined chunks, so a file that changed in parts writes
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
      unchanged ?? (await captureFile(writer, abs, stored, growing.has(stored), expected.get(stored))),
    );
  }
  // Sockets, FIFOs and devices are not state: skipped.
}

/**
 * Reads one file into chunks, retrying if it changes underneath. A `growing` file (a log the
 * program keeps appending to) is taken up to its size when opened, without the retry.
 */
export async function captureFile(
  writer: ChunkWriter,
  abs: string,
  stored: string,
  growing = false,
  expected?: FileIdentity,
): Promise<FileEntry> {
  for (let attempt = 1; ; attempt++) {
    let handle: fsp.FileHandle | undefined;
    try {
      handle = await fsp.open(abs, 'r');
      const before = await handle.stat();
      if (expected && !sameIdentity(before, expected)) throw changedSinceCheck(abs);
      const chunks = await chunkStream(writer, handle, growing ? before.size : Number.POSITIVE_INFINITY);
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

/** Bytes read from a file per block; each block is scanned for cut points on its own. */
const SCAN_BLOCK = 16 << 20;
/** Blocks read and being scanned ahead of the one being cut. */
const BLOCKS_AHEAD = 3;

interface Block {
  /** File offset of `bytes[0]`. */
  start: number;
  bytes: Uint8Array;
}

/**
 * Cuts a file into content-defined chunks and queues them: blocks are read ahead and scanned for
 * cut candidates in worker threads (cdc-scan.ts) while the chunks of earlier blocks are hashed and
 * written. A chunk inside one block is a view of it; one that spans two is copied.
 */
async function chunkStream(writer: ChunkWriter, handle: fsp.FileHandle, limit: number): Promise<ChunkRef[]> {
  const size = Math.min(limit, (await handle.stat()).size);
  const inWorker = size >= SCAN_IN_WORKERS_FROM;
  const refs: Array<Promise<ChunkRef>> = [];
  const chain = new CutChain();
  const ahead: Array<Promise<Reading | undefined>> = [];
  let position = 0;
  let tail = new Uint8Array(0);
  let eof = false;
  let reading: Promise<unknown> = Promise.resolve();
  // Reads run one after the other, each block's scan starts as soon as it is read.
  const readNext = (): Promise<Reading | undefined> => {
    const read = reading.then(async (): Promise<Reading | undefined> => {
      if (eof) return undefined;
      const buffer = new ArrayBuffer(WARM_BYTES + SCAN_BLOCK);
      const view = new Uint8Array(buffer);
      view.set(tail, 0);
      const from = tail.byteLength;
      let filled = from;
      while (filled < view.byteLength) {
        const want = Math.min(view.byteLength - filled, limit - position);
        const { bytesRead } = want > 0 ? await handle.read(view, filled, want, position) : { bytesRead: 0 };
        if (bytesRead === 0) {
          eof = true;
          break;
        }
        filled += bytesRead;
        position += bytesRead;
      }
      if (filled === from) return undefined;
      tail = view.slice(Math.max(from, filled - WARM_BYTES), filled);
      const scan = scanBlock(buffer, filled, from, inWorker);
      scan.catch(() => {});
      return { start: position - (filled - from), from, filled, scan };
    });
    read.catch(() => {});
    reading = read;
    return read;
  };
  const blocks: Block[] = [];
  for (;;) {
    while (ahead.length < BLOCKS_AHEAD) ahead.push(readNext());
    const next = await ahead.shift()!;
    if (next) {
      // Candidates go into the chain in file order, whichever worker finished first.
      const scanned = await next.scan;
      chain.add(scanned.found, next.start - next.from);
      blocks.push({
        start: next.start,
        bytes: new Uint8Array(scanned.buffer, next.from, next.filled - next.from),
      });
    }
    const last = blocks.at(-1);
    const end = last ? last.start + last.bytes.byteLength : 0;
    const final = !next;
    for (;;) {
      const cut = chain.next(end, final);
      if (cut === 0) break;
      await writer.ready();
      refs.push(writer.add(sliceOf(blocks, chain.start, cut)));
      chain.start += cut;
      while (blocks.length > 0 && blocks[0]!.start + blocks[0]!.bytes.byteLength <= chain.start)
        blocks.shift();
      if (chain.start === end) break;
    }
    if (!next) break;
  }
  return Promise.all(refs);
}

interface Reading {
  start: number;
  from: number;
  filled: number;
  scan: Promise<{ buffer: ArrayBuffer; found: Int32Array }>;
}

/** Bytes [at, at + length) of the file from the blocks held: a view when one block holds them all. */
function sliceOf(blocks: readonly Block[], at: number, length: number): Uint8Array {
  const first = blocks.find((b) => b.start + b.bytes.byteLength > at)!;
  const offset = at - first.start;
  if (offset + length <= first.bytes.byteLength) return first.bytes.subarray(offset, offset + length);
  const out = new Uint8Array(length);
  let done = 0;
  for (const block of blocks) {
    if (block.start + block.bytes.byteLength <= at || done === length) continue;
    const from = Math.max(0, at + done - block.start);
    const piece = block.bytes.subarray(from, Math.min(block.bytes.byteLength, from + length - done));
    out.set(piece, done);
    done += piece.byteLength;
  }
  return out;
}
