import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type ChunkRef, chunkFilePath } from '../../src/store/chunk-read.js';
import { ChunkWriter } from '../../src/store/chunk-store.js';
import { entryHash } from '../../src/store/hash.js';
import {
  acquireLease,
  commitFiles,
  type Entry,
  type FileEntry,
  type Manifest,
  Store,
} from '../../src/store/index.js';
import { CHUNKS_DIR, manifestPath, PACKS_DIR } from '../../src/store/layout.js';
import { serializeManifest } from '../../src/store/manifest.js';
import { corruptByte } from './bytes.js';

/** A complete, valid manifest with the given fields overridden. */
export function sampleManifest(overrides: Partial<Manifest> = {}): Manifest {
  return {
    format: 'ckpt-manifest',
    version: 1,
    seq: 1,
    step: 100,
    time: '2024-01-02T03:04:05.000Z',
    writer: { host: hostname(), pid: 4242 },
    entries: [],
    meta: { lr: 0.001, note: 'grüße ✓' },
    stats: { bytes: 0, writtenBytes: 0, chunks: 0, newChunks: 0, durationMs: 1 },
    ...overrides,
  };
}

/** Creates a store in `dir` and commits `paths` (relative to `base`) as one checkpoint. */
export async function commitPaths(
  store: Store,
  base: string,
  paths: readonly string[],
  step: number,
  meta: Record<string, unknown> = {},
): Promise<Manifest> {
  const lease = await acquireLease(store.root);
  try {
    return await commitFiles(store, lease, base, paths, { step, meta, compression: 'auto' });
  } finally {
    await lease.release();
  }
}

export function openNewStore(dir: string): Promise<Store> {
  return Store.open(dir, { create: true });
}

/** Stores `data` as chunks and returns a file entry naming `path` (which is not checked). */
export async function fileEntryFor(
  root: string,
  path: string,
  data: Uint8Array,
  mode = 0o644,
): Promise<FileEntry> {
  const writer = new ChunkWriter(root, 'off');
  const ref = await writer.put(data);
  await writer.finish();
  return {
    type: 'file',
    path,
    mode,
    size: data.byteLength,
    mtimeMs: Date.now(),
    hash: entryHash([ref.h]),
    chunks: [ref],
  };
}

/**
 * Writes a hand-made manifest (with a correct checksum) as the next checkpoint of `store`, the way
 * a foreign or malicious writer could. `body` may be any JSON value, so malformed shapes are possible.
 */
export async function writeRawManifest(store: Store, body: (seq: number) => unknown): Promise<number> {
  const seq = ((await store.listSeqs()).at(-1) ?? 0) + 1;
  writeFileSync(manifestPath(store.root, seq), serializeManifest(body(seq) as Manifest));
  return seq;
}

/** A manifest file's JSON as it is, without the store's validation (to test the layers below it). */
export function readRawManifest(store: Store, seq: number): Manifest {
  const text = readFileSync(manifestPath(store.root, seq), 'utf8');
  return JSON.parse(text.slice(0, text.indexOf('\n'))) as Manifest;
}

/** Writes a well-formed manifest with these entries as the next checkpoint. */
export function writeCraftedManifest(
  store: Store,
  entries: Entry[],
  overrides: Partial<Manifest> = {},
): Promise<number> {
  return writeRawManifest(store, (seq) => sampleManifest({ seq, entries, ...overrides }));
}

/** Every file that holds chunk bytes in a store (v1 chunk files and v2 packs; absolute paths), temp files excluded. */
export function chunkFiles(root: string): string[] {
  const out: string[] = [];
  const base = join(root, CHUNKS_DIR);
  for (const shard of readdirSync(base)) {
    for (const name of readdirSync(join(base, shard))) {
      if (!name.startsWith('.')) out.push(join(base, shard, name));
    }
  }
  const packs = join(root, PACKS_DIR);
  if (existsSync(packs))
    for (const name of readdirSync(packs)) if (!name.startsWith('.')) out.push(join(packs, name));
  return out.sort();
}

/** Where a chunk's stored bytes are: the file, the offset of its first byte there, and their length. */
export function chunkSpot(root: string, ref: ChunkRef): { path: string; at: number; length: number } {
  const path = chunkFilePath(root, ref);
  if (ref.p === undefined) return { path, at: 0, length: statSync(path).size };
  return { path, at: ref.o!, length: ref.z === 1 ? ref.s! : ref.n };
}

/** Flips a bit `offset` bytes into a chunk's stored bytes (in its pack or its own file). */
export function corruptChunk(root: string, ref: ChunkRef, offset = 0): void {
  const spot = chunkSpot(root, ref);
  corruptByte(spot.path, spot.at + Math.min(offset, spot.length - 1));
}

/** Cuts a chunk's stored bytes short by `bytes` (its pack is truncated there, or its own file). */
export function truncateChunk(root: string, ref: ChunkRef, bytes = 1): void {
  const spot = chunkSpot(root, ref);
  truncateSync(spot.path, spot.at + spot.length - bytes);
}

/** Every file and directory under `dir` (absolute paths, `dir` itself included), with its mode. */
export function walk(dir: string): Array<{ path: string; mode: number; isDir: boolean }> {
  const out: Array<{ path: string; mode: number; isDir: boolean }> = [];
  const visit = (path: string): void => {
    const stat = statSync(path);
    out.push({ path, mode: stat.mode & 0o7777, isDir: stat.isDirectory() });
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return out;
}
