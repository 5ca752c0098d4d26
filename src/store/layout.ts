import { join } from 'node:path';

/**
 * Store format version this build writes and the newest it reads. Version 2 stores chunks in pack
 * files; version 1 (one file per chunk) is still read, and a version 1 store takes version 2
 * packs from its first new checkpoint on.
 */
export const STORE_FORMAT_VERSION = 2;
/**
 * The manifest version of a checkpoint committed by several ranks (`ranks`, and `rank` on each
 * entry): an older ckpt, which would restore every rank's files as one tree, refuses it instead.
 * Every other manifest keeps {@link STORE_FORMAT_VERSION}.
 */
export const RANKED_MANIFEST_VERSION = 3;
/** The most ranks a multi-rank checkpoint may have. */
export const MAX_RANKS = 1 << 16;
/** Parts of multi-rank commits in flight: `staging/<session>/<step>/rank-<R>.json`. */
export const STAGING_DIR = 'staging';
/** The identity file that marks a directory as a ckpt store. */
export const STORE_ID_FILE = 'ckpt-store.json';
/** Loose chunk files (format v1, and v2 stores upgraded from it): `chunks/<2 hex>/<sha256>[.zst]`. */
export const CHUNKS_DIR = 'chunks';
/** One JSON manifest per committed checkpoint, named by its sequence number. */
export const MANIFESTS_DIR = 'manifests';
/** Pack files of format v2, side by side (no subfolders). */
export const PACKS_DIR = 'packs';
/** Suffix of a pack file: the stored bytes of many chunks, back to back (format v2). */
export const PACK_SUFFIX = '.pack';
/** A pack's name: 32 random hex digits (it is never rewritten, so its name need not be its hash). */
export const PACK_ID = /^[0-9a-f]{32}$/;
/** A save starts a new pack file once its current one holds this many bytes. */
export const PACK_TARGET_BYTES = 64 << 20;
/** The writer lease: who may commit to this store now. */
export const LEASE_FILE = 'lease.json';
/** The job journal: one checksummed JSON event per line, append-only. */
export const JOURNAL_FILE = 'journal.log';
/** Suffix of a chunk stored zstd-compressed. */
export const COMPRESSED_SUFFIX = '.zst';
/** Manifest file names are the zero-padded sequence number, so a plain sort is by age. */
export const MANIFEST_DIGITS = 10;

/** The folder of a loose chunk: fanned out by the first two hex digits of its hash. */
export function chunkDir(root: string, hash: string): string {
  return join(root, CHUNKS_DIR, hash.slice(0, 2));
}

/** A loose chunk's file: its hash, with `.zst` when stored compressed. */
export function chunkPath(root: string, hash: string, compressed: boolean): string {
  return join(chunkDir(root, hash), compressed ? `${hash}${COMPRESSED_SUFFIX}` : hash);
}

/** Packs sit side by side in `packs/` (a store holds few of them: 16 per GiB of new data). */
export function packPath(root: string, id: string): string {
  return join(root, PACKS_DIR, `${id}${PACK_SUFFIX}`);
}

/** `0000000042.json` for checkpoint 42. */
export function manifestName(seq: number): string {
  return `${String(seq).padStart(MANIFEST_DIGITS, '0')}.json`;
}

/** The manifest file of checkpoint `seq` in the store at `root`. */
export function manifestPath(root: string, seq: number): string {
  return join(root, MANIFESTS_DIR, manifestName(seq));
}

/** The sequence number of a manifest file name, or undefined for anything else (tmp files…). */
export function parseManifestName(name: string): number | undefined {
  const match = /^(\d{10})\.json$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Bounds on what a reader accepts from a store, checked before memory is allocated. A store is
 * untrusted input: a declared size beyond these is damage, not a reason to run out of memory.
 */
/** The largest chunk a reader accepts (writers cut at most 16 MiB). */
export const MAX_CHUNK_BYTES = 64 << 20;
/** The largest manifest file a reader accepts. */
export const MAX_MANIFEST_BYTES = 256 << 20;
/** The largest identity or lease file a reader accepts. */
export const MAX_SMALL_FILE_BYTES = 64 << 10;
/** The deepest nesting of arrays and objects accepted in a manifest's JSON (meta included). */
export const MAX_JSON_DEPTH = 64;
