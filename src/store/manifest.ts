import { CkptError, FormatError, IntegrityError } from '../errors.js';
import type { ChunkRef } from './chunk-read.js';
import { maxPackedSize } from './compress.js';
import { XXH64_HEX } from './fast-hash.js';
import { entryHash, SHA256_HEX, sha256Hex } from './hash.js';
import { MAX_CHUNK_BYTES, MAX_JSON_DEPTH, MAX_RANKS, PACK_ID, RANKED_MANIFEST_VERSION } from './layout.js';
import { RESERVED_PREFIX, safeRelativePath, symlinkStaysInside } from './paths.js';

/** Who wrote a checkpoint. */
export interface WriterInfo {
  host: string;
  pid: number;
  slurm?: SlurmInfo;
}

/** The SLURM job a checkpoint's writer ran in (from the SLURM_* variables). */
export interface SlurmInfo {
  jobId: string;
  arrayJobId?: string;
  arrayTaskId?: string;
  restartCount?: number;
  /** The job's nodes, as SLURM writes them (`SLURM_JOB_NODELIST`, e.g. `node[1-2]`). */
  nodes?: string;
}

/** A regular file, stored as chunks. `path` is relative, normalized, `/`-separated. */
export interface FileEntry {
  type: 'file';
  path: string;
  mode: number;
  size: number;
  mtimeMs: number;
  /** Inode and ctime when read (since 0.2): a later commit skips reading a file unchanged since. */
  ino?: number;
  ctimeMs?: number;
  hash: string;
  chunks: ChunkRef[];
}

/** A directory of a committed tree; `mode` is its permission bits. */
export interface DirEntry {
  type: 'dir';
  path: string;
  mode: number;
}

/** A symbolic link of a committed tree; `target` is relative and stays inside the tree. */
export interface SymlinkEntry {
  type: 'symlink';
  path: string;
  target: string;
}

/** Bytes that belong to a stored JavaScript value: the value document or one raw array. */
export interface BlobEntry {
  type: 'blob';
  key: string;
  size: number;
  hash: string;
  chunks: ChunkRef[];
}

/**
 * One entry of a manifest. In a multi-rank checkpoint (`ranks` set) every entry has `rank`: the
 * rank whose part it came from (0 to ranks - 1).
 */
export type Entry = (FileEntry | DirEntry | SymlinkEntry | BlobEntry) & { rank?: number };
/** An entry whose bytes are chunks. */
export type ChunkedEntry = FileEntry | BlobEntry;

/** What a commit cost: bytes of state, bytes and chunks actually written, time. */
export interface SaveStats {
  /** Bytes of state in this checkpoint. */
  bytes: number;
  /** Bytes written to new chunk files (after dedup and compression). */
  writtenBytes: number;
  chunks: number;
  newChunks: number;
  durationMs: number;
}

/** The manifest of one committed checkpoint (format v2, or v1 when read; see docs/format.md). */
export interface Manifest {
  format: 'ckpt-manifest';
  version: number;
  seq: number;
  step: number;
  time: string;
  writer: WriterInfo;
  entries: Entry[];
  meta: Record<string, unknown>;
  stats: SaveStats;
  /** A multi-rank checkpoint (manifest version 3): how many ranks committed their part of it. */
  ranks?: number;
}

const TRAILER_PREFIX = 'sha256:';
/** Blob keys are plain names (`value`, `b0`…): they become file names in `ckpt restore`. */
const BLOB_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/**
 * Thrown for a manifest written by a newer ckpt: not damaged, just unreadable here. Such a
 * checkpoint is never pruned or garbage-collected by this version.
 */
export class NewerFormatError extends FormatError {}

/** The bytes of a manifest file: one JSON line, then `sha256:<hex of that line>`. */
export function serializeManifest(manifest: Manifest): Buffer {
  const body = JSON.stringify(manifest);
  return Buffer.from(`${body}\n${TRAILER_PREFIX}${sha256Hex(body)}\n`, 'utf8');
}

/**
 * Parses and validates a manifest file. Throws {@link IntegrityError} when the checksum does not
 * match (torn or flipped bytes) and {@link FormatError} when it is well-formed but not something
 * this version can read (newer format version, missing fields).
 */
export function parseManifest(bytes: Uint8Array, name: string): Manifest {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const cut = text.lastIndexOf('\n', text.length - 2);
  const body = cut >= 0 ? text.slice(0, cut) : '';
  const trailer = cut >= 0 ? text.slice(cut + 1).trimEnd() : '';
  if (!trailer.startsWith(TRAILER_PREFIX)) {
    throw new IntegrityError(`Manifest ${name} has no checksum line (torn write or not a manifest).`);
  }
  if (sha256Hex(body) !== trailer.slice(TRAILER_PREFIX.length)) {
    throw new IntegrityError(`Manifest ${name} does not match its checksum (corrupt or torn).`);
  }
  const depth = jsonDepth(body);
  if (depth > MAX_JSON_DEPTH) {
    throw new FormatError(
      `Manifest ${name} nests ${depth} levels deep, more than the ${MAX_JSON_DEPTH} a manifest may use.`,
      { hint: 'The checkpoint was not written by ckpt; restore falls back to an older one.' },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    throw new FormatError(`Manifest ${name} is not valid JSON: ${(error as Error).message}.`, {
      cause: error,
    });
  }
  return validateManifest(raw, name);
}

/** Checks the shape of a parsed manifest; see {@link parseManifest}. */
export function validateManifest(raw: unknown, name: string): Manifest {
  const fail = (what: string): never => {
    throw new FormatError(`Manifest ${name} is malformed: ${what}.`, {
      hint: 'The checkpoint cannot be used; restore falls back to an older one. Run `ckpt verify` for details.',
    });
  };
  if (!isRecord(raw) || raw.format !== 'ckpt-manifest') fail('`format` is not "ckpt-manifest"');
  const m = raw as Record<string, unknown>;
  if (!Number.isSafeInteger(m.version) || (m.version as number) < 1)
    fail('`version` is not a positive integer');
  if ((m.version as number) > RANKED_MANIFEST_VERSION) {
    throw new NewerFormatError(
      `Manifest ${name} has format version ${String(m.version)}; this ckpt reads up to version ${RANKED_MANIFEST_VERSION}.`,
      { hint: 'Upgrade ckpt (npm install -g ckpt@latest) to read this store.' },
    );
  }
  if (!Number.isSafeInteger(m.seq) || (m.seq as number) < 1) fail('`seq` is not a positive integer');
  if (typeof m.step !== 'number' || !Number.isFinite(m.step)) fail('`step` is not a number');
  if (typeof m.time !== 'string') fail('`time` is missing');
  if (!isRecord(m.writer)) fail('`writer` is missing');
  if (!isRecord(m.meta)) fail('`meta` is not an object');
  if (!Array.isArray(m.entries)) fail('`entries` is not an array');
  const ranks = m.ranks;
  if ((m.version as number) === RANKED_MANIFEST_VERSION) {
    if (!Number.isSafeInteger(ranks) || (ranks as number) < 1 || (ranks as number) > MAX_RANKS)
      fail(`\`ranks\` is not a rank count (1 to ${MAX_RANKS})`);
  } else if (ranks !== undefined) fail(`\`ranks\` appears in a version ${String(m.version)} manifest`);
  const names = new Set<string>();
  (m.entries as unknown[]).forEach((entry, i) => {
    const problem =
      entryProblem(entry) ?? rankProblem(entry as Record<string, unknown>, ranks as number | undefined);
    if (problem) fail(`entry ${i}: ${problem}`);
    const { type, path, key, rank } = entry as { type: string; path?: string; key?: string; rank?: number };
    const id = `${rank ?? ''}:${type === 'blob' ? `blob:${key}` : `path:${path}`}`;
    if (names.has(id))
      fail(
        `entry ${i}: ${JSON.stringify(path ?? key)} appears twice${rank === undefined ? '' : ` in rank ${rank}`}`,
      );
    names.add(id);
  });
  if (!isRecord(m.stats)) m.stats = { bytes: 0, writtenBytes: 0, chunks: 0, newChunks: 0, durationMs: 0 };
  return m as unknown as Manifest;
}

/** Why an entry's `rank` does not fit its manifest's `ranks` (both absent, or 0 ≤ rank < ranks). */
function rankProblem(entry: Record<string, unknown>, ranks: number | undefined): string | undefined {
  if (ranks === undefined) return entry.rank === undefined ? undefined : 'a `rank` in a single-rank manifest';
  const rank = entry.rank;
  return Number.isSafeInteger(rank) && (rank as number) >= 0 && (rank as number) < ranks
    ? undefined
    : `\`rank\` ${JSON.stringify(rank)} is not a rank of ${ranks}`;
}

function entryProblem(entry: unknown): string | undefined {
  if (!isRecord(entry)) return 'not an object';
  if (entry.type === 'file' || entry.type === 'dir' || entry.type === 'symlink') {
    const problem = pathProblem(entry.path);
    if (problem) return problem;
  }
  switch (entry.type) {
    case 'file':
    case 'blob': {
      const label = entry.type === 'file' ? 'path' : 'key';
      if (typeof entry[label] !== 'string') return `\`${label}\` is not a string`;
      if (entry.type === 'blob' && !BLOB_KEY.test(entry.key as string))
        return `blob key ${JSON.stringify(entry.key)} is not a plain name`;
      if (!Number.isSafeInteger(entry.size) || (entry.size as number) < 0) return '`size` is not a size';
      if (typeof entry.hash !== 'string' || !SHA256_HEX.test(entry.hash)) return '`hash` is not a SHA-256';
      if (!Array.isArray(entry.chunks)) return '`chunks` is not an array';
      let total = 0;
      for (const c of entry.chunks as unknown[]) {
        if (!isRecord(c) || typeof c.h !== 'string' || !SHA256_HEX.test(c.h) || !Number.isSafeInteger(c.n)) {
          return 'a chunk reference is malformed';
        }
        if ((c.n as number) < 1 || (c.n as number) > MAX_CHUNK_BYTES) {
          return `a chunk declares ${String(c.n)} bytes (a chunk holds 1 to ${MAX_CHUNK_BYTES})`;
        }
        if (c.z !== undefined && c.z !== 1) return 'a chunk reference has a bad `z`';
        if (c.x !== undefined && (typeof c.x !== 'string' || !XXH64_HEX.test(c.x)))
          return 'a chunk reference has a bad `x` (not 16 hex digits)';
        const where = packRefProblem(c);
        if (where) return where;
        total += c.n as number;
      }
      if (total !== entry.size) return `chunks add up to ${total} bytes, size says ${String(entry.size)}`;
      const hashes = (entry.chunks as Array<{ h: string }>).map((c) => c.h);
      if (entryHash(hashes) !== entry.hash) return '`hash` does not match its chunk list';
      if (entry.type === 'file') {
        if (!isMode(entry.mode)) return '`mode` is not a file mode';
        if (typeof entry.mtimeMs !== 'number' || !Number.isFinite(entry.mtimeMs))
          return '`mtimeMs` is not a number';
        if (entry.ino !== undefined && !Number.isSafeInteger(entry.ino))
          return '`ino` is not an inode number';
        if (
          entry.ctimeMs !== undefined &&
          (typeof entry.ctimeMs !== 'number' || !Number.isFinite(entry.ctimeMs))
        )
          return '`ctimeMs` is not a number';
      }
      return undefined;
    }
    case 'dir':
      return isMode(entry.mode) ? undefined : '`mode` is not a file mode';
    case 'symlink':
      if (typeof entry.target !== 'string' || entry.target === '' || entry.target.includes('\0'))
        return '`target` is not a link target';
      return symlinkStaysInside(entry.path as string, entry.target)
        ? undefined
        : `symlink target ${JSON.stringify(entry.target)} may point outside the restore directory`;
    default:
      return `unknown type ${JSON.stringify(entry.type)}`;
  }
}

/** Why a chunk's place in a pack (format v2: `p`, `o`, `s`) cannot be right, or undefined. */
function packRefProblem(c: Record<string, unknown>): string | undefined {
  if (c.p === undefined) {
    return c.o === undefined && c.s === undefined ? undefined : 'a chunk has an offset but no pack';
  }
  if (typeof c.p !== 'string' || !PACK_ID.test(c.p)) return 'a chunk names a pack that is not a pack id';
  if (!Number.isSafeInteger(c.o) || (c.o as number) < 0) return 'a chunk has a bad pack offset `o`';
  if (c.z === 1) {
    if (!Number.isSafeInteger(c.s) || (c.s as number) < 1 || (c.s as number) > maxPackedSize(c.n as number))
      return `a compressed chunk declares ${String(c.s)} stored bytes for ${String(c.n)}`;
  } else if (c.s !== undefined) return 'an uncompressed chunk declares a stored size';
  return undefined;
}

/** Why a stored path cannot be restored safely, or undefined when it can. */
function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return '`path` is not a string';
  let normal: string;
  try {
    normal = safeRelativePath(path);
  } catch (error) {
    return error instanceof CkptError ? `unsafe path ${JSON.stringify(path)}` : String(error);
  }
  if (normal !== path) return `path ${JSON.stringify(path)} is not in normal form`;
  if (path.split('/').some((part) => part.startsWith(RESERVED_PREFIX))) {
    return `path ${JSON.stringify(path)} uses the name ${RESERVED_PREFIX}…, reserved for ckpt's own files`;
  }
  return undefined;
}

function isMode(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= 0o177777;
}

/**
 * How deeply arrays and objects nest in a JSON text, without parsing it (strings skipped).
 * NOTE: checked before JSON.parse so that no later recursive walk (stringify, printing meta)
 * can overflow the stack on a hostile manifest.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every chunk a manifest references (files and blobs). */
export function manifestChunks(manifest: Manifest): ChunkRef[] {
  const out: ChunkRef[] = [];
  for (const entry of manifest.entries) {
    if (entry.type === 'file' || entry.type === 'blob') out.push(...entry.chunks);
  }
  return out;
}
