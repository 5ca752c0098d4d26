import { promises as fsp, type Stats } from 'node:fs';
import type { ChunkRef } from './chunk-read.js';

/**
 * Store files this process wrote or verified, with the identity they had then: a chunk file by
 * its path, a pack as a whole (`path`) or one chunk inside it (`path@offset`).
 * NOTE: any write, truncation, rename or chmod changes a file's ctime, and user space cannot set
 * ctime back, so an unchanged (inode, size, ctime) means unchanged bytes short of silent media
 * rot, which `verify --deep` and every restore still catch. Bounded: the oldest are forgotten.
 */
const trusted = new Map<string, string>();
const MAX_TRUSTED = 1 << 18;

function identity(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.ctimeMs}`;
}

/** Records that the file at `key`'s path had exactly the bytes ckpt expects, as of `stat`. */
export function trust(key: string, stat: Stats): void {
  trusted.delete(key);
  trusted.set(key, identity(stat));
  if (trusted.size > MAX_TRUSTED) trusted.delete(trusted.keys().next().value as string);
}

/** {@link trust} with a fresh lstat of `path` (nothing is recorded for anything but a regular file). */
export async function trustFile(path: string, key = path): Promise<void> {
  const stat = await fsp.lstat(path).catch(() => undefined);
  if (stat?.isFile()) trust(key, stat);
}

/** Drops what is recorded for `key` (its file was rewritten or deleted). */
export function forget(key: string): void {
  trusted.delete(key);
}

/** Whether `key` was trusted with the identity `stat` shows now. */
export function isTrusted(key: string, stat: Stats): boolean {
  return trusted.get(key) === identity(stat);
}

/**
 * When each chunk was last vouched for by a committed checkpoint: chunk hash → where it is
 * stored (per the newest manifest naming it) and that manifest file's modification time (see
 * {@link Store.chunkIndex}). A chunk whose file (chunk file or pack) last changed before that
 * time has not changed since a checkpoint verified it, so it is reused without being read again.
 */
export type ChunkIndex = ReadonlyMap<string, { ref: ChunkRef; since: number }>;

/** Whether a committed checkpoint vouched for a chunk after its file last changed. */
export function vouchedFor(since: number | undefined, stat: Stats): boolean {
  // Strictly older: a file changed in the same clock tick as the manifest was written is read.
  return since !== undefined && stat.ctimeMs < since;
}
