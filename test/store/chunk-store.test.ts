import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.js';
import { type ChunkRef, readChunkInto } from '../../src/store/chunk-read.js';
import { ChunkWriter } from '../../src/store/chunk-store.js';
import { zstdAvailable } from '../../src/store/compress.js';
import { sha256Hex } from '../../src/store/hash.js';
import { chunkDir, chunkPath, PACK_TARGET_BYTES } from '../../src/store/layout.js';
import { readChunks } from '../../src/store/pack-read.js';
import type { ChunkIndex } from '../../src/store/trust.js';
import { compressibleBytes, corruptByte, seededBytes, truncateBy } from '../helpers/bytes.js';
import { chunkFiles, chunkSpot, corruptChunk, openNewStore, truncateChunk } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

async function newRoot(): Promise<string> {
  return (await openNewStore(tempDir())).root;
}

async function putAll(
  root: string,
  datas: Uint8Array[],
  compression: 'auto' | 'off' = 'off',
  index?: ChunkIndex,
) {
  const writer = new ChunkWriter(root, compression, index ? { index } : {});
  const refs = await Promise.all(datas.map((data) => writer.add(data)));
  const stats = await writer.finish();
  return { refs, stats };
}

/** An index vouching for `refs` as a checkpoint committed just now would. */
function indexOf(refs: readonly ChunkRef[]): ChunkIndex {
  return new Map(refs.map((ref) => [ref.h, { ref, since: Date.now() + 1000 }]));
}

async function readBack(root: string, ref: ChunkRef): Promise<Buffer> {
  const out = Buffer.alloc(ref.n);
  await readChunkInto(root, ref, out);
  return out;
}

describe('ChunkWriter and readChunkInto', () => {
  it('round-trips chunks of several sizes, including empty', async () => {
    const root = await newRoot();
    const datas = [seededBytes(1, 300_000), Buffer.from('x'), Buffer.alloc(0), seededBytes(2, 4096)];
    const { refs, stats } = await putAll(root, datas);
    expect(stats).toMatchObject({ chunks: 4, newChunks: 4, bytes: 304_097 });
    for (const [i, ref] of refs.entries()) {
      expect(ref.h).toBe(sha256Hex(datas[i]!));
      expect(ref.n).toBe(datas[i]!.byteLength);
      expect((await readBack(root, ref)).equals(datas[i]!)).toBe(true);
    }
    const all = Buffer.alloc(304_097);
    await readChunks(root, refs, all);
    expect(all.equals(Buffer.concat(datas))).toBe(true);
  });

  it('writes nothing for bytes it already holds (within a save, and against committed checkpoints)', async () => {
    const root = await newRoot();
    const data = seededBytes(3, 200_000);
    const first = await putAll(root, [data, data]);
    expect(first.stats).toMatchObject({ chunks: 2, newChunks: 1, writtenBytes: 200_000 });
    const files = chunkFiles(root);
    expect(files).toHaveLength(1);
    const mtime = statSync(files[0]!).mtimeMs;

    const second = await putAll(root, [data], 'off', indexOf(first.refs));
    expect(second.stats).toMatchObject({ chunks: 1, newChunks: 0, writtenBytes: 0 });
    expect(second.refs[0]).toEqual(first.refs[0]);
    expect(chunkFiles(root)).toEqual(files);
    expect(statSync(files[0]!).mtimeMs).toBe(mtime);
  });

  it('appends many chunks to few pack files, starting a new one past the target size', async () => {
    const root = await newRoot();
    const datas = Array.from({ length: 80 }, (_, i) => seededBytes(100 + i, 1 << 20));
    const { refs } = await putAll(root, datas);
    const packs = new Set(refs.map((r) => r.p));
    expect(packs.size).toBe(Math.ceil((80 << 20) / PACK_TARGET_BYTES));
    expect(chunkFiles(root)).toHaveLength(packs.size);
    const all = Buffer.alloc(80 << 20);
    await readChunks(root, refs, all);
    expect(all.equals(Buffer.concat(datas))).toBe(true);
  });

  it("with compression 'auto' stores compressible data as .zst and random data raw", async () => {
    expect(zstdAvailable()).toBe(true);
    const root = await newRoot();
    const text = compressibleBytes(1 << 20);
    const noise = seededBytes(4, 1 << 20);
    const { refs, stats } = await putAll(root, [text, noise], 'auto');
    const [packed, raw] = refs as [ChunkRef, ChunkRef];

    expect(packed.z).toBe(1);
    expect(packed.s).toBeLessThan(text.byteLength / 10);
    expect((await readBack(root, packed)).equals(text)).toBe(true);

    expect(raw.z).toBeUndefined();
    expect(raw.s).toBeUndefined();
    expect((await readBack(root, raw)).equals(noise)).toBe(true);
    expect(stats.writtenBytes).toBe(noise.byteLength + packed.s!);
    expect(statSync(chunkSpot(root, raw).path).size).toBe(stats.writtenBytes);

    // A later writer that dedups against the compressed chunk must learn that it is compressed.
    const again = await putAll(root, [text], 'auto', indexOf(refs));
    expect(again.refs[0]).toEqual(packed);
  });

  it("with compression 'off' stores even compressible data raw", async () => {
    const root = await newRoot();
    const { refs } = await putAll(root, [compressibleBytes(1 << 20)], 'off');
    expect(refs[0]!.z).toBeUndefined();
    expect(refs[0]!.s).toBeUndefined();
  });
});

describe('readChunkInto detects damage with IntegrityError', () => {
  const damages: Array<[string, (root: string, ref: ChunkRef) => void, RegExp]> = [
    ['a flipped bit at the start', (root, ref) => corruptChunk(root, ref, 0), /corrupt/],
    ['a flipped bit in the middle', (root, ref) => corruptChunk(root, ref, 50_000), /corrupt/],
    ['a flipped bit in the last byte', (root, ref) => corruptChunk(root, ref, ref.n - 1), /corrupt/],
    ['its pack cut short by one byte', (root, ref) => truncateChunk(root, ref, 1), /truncated/],
  ];

  for (const [what, damage, message] of damages) {
    it(`in a raw chunk: ${what}`, async () => {
      const root = await newRoot();
      // One after the other: chunks added together are hashed at once and may land in either
      // order in the pack (seen under load), and the damage below must be behind the first one.
      const writer = new ChunkWriter(root, 'off');
      const refs = [await writer.add(seededBytes(4, 70_000)), await writer.add(seededBytes(5, 100_000))];
      await writer.finish();
      const ref = refs[1]!;
      expect(ref.o).toBe(70_000);
      damage(root, ref);
      const error = await readBack(root, ref).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IntegrityError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(ref.h);
      // The chunk before it in the same pack is still whole.
      expect((await readBack(root, refs[0]!)).equals(seededBytes(4, 70_000))).toBe(true);
    });
  }

  it('in a raw chunk: a missing pack', async () => {
    const root = await newRoot();
    const { refs } = await putAll(root, [seededBytes(6, 1000)]);
    await rm(chunkSpot(root, refs[0]!).path);
    await expect(readBack(root, refs[0]!)).rejects.toThrow(IntegrityError);
    await expect(readBack(root, refs[0]!)).rejects.toThrow(/missing/);
  });

  for (const [what, damage] of [
    ['a flipped bit', (root: string, ref: ChunkRef) => corruptChunk(root, ref, ref.s! - 20)],
    ['truncation', (root: string, ref: ChunkRef) => truncateChunk(root, ref, 5)],
  ] as const) {
    it(`in a compressed chunk: ${what}`, async () => {
      const root = await newRoot();
      const { refs } = await putAll(root, [compressibleBytes(300_000)], 'auto');
      const ref = refs[0]!;
      expect(ref.z).toBe(1);
      damage(root, ref);
      await expect(readBack(root, ref)).rejects.toThrow(IntegrityError);
    });
  }
});

describe('format v1 chunk files (one file per chunk) are still read and checked', () => {
  function writeV1(root: string, data: Buffer): ChunkRef {
    const ref = { h: sha256Hex(data), n: data.byteLength };
    mkdirSync(chunkDir(root, ref.h), { recursive: true });
    writeFileSync(chunkPath(root, ref.h, false), data);
    return ref;
  }

  it('reads a v1 chunk file, and refuses one flipped, truncated or grown', async () => {
    const root = await newRoot();
    const data = seededBytes(7, 100_000);
    const ref = writeV1(root, data);
    expect((await readBack(root, ref)).equals(data)).toBe(true);
    const path = chunkPath(root, ref.h, false);
    corruptByte(path, 10);
    await expect(readBack(root, ref)).rejects.toThrow(/corrupt/);
    writeV1(root, data);
    truncateBy(path, 1);
    await expect(readBack(root, ref)).rejects.toThrow(/truncated/);
    writeFileSync(path, Buffer.concat([data, Buffer.from([0])]));
    await expect(readBack(root, ref)).rejects.toThrow(/expected 100000/);
  });

  it('a new save dedups against an intact v1 chunk and writes a damaged one again into a pack', async () => {
    const root = await newRoot();
    const data = seededBytes(8, 50_000);
    const ref = writeV1(root, data);
    const reused = await putAll(root, [data], 'off', indexOf([ref]));
    expect(reused.refs[0]).toEqual(ref);
    expect(reused.stats.newChunks).toBe(0);
    truncateBy(chunkPath(root, ref.h, false), 10);
    const rewritten = await putAll(root, [data], 'off', indexOf([ref]));
    expect(rewritten.stats).toMatchObject({ newChunks: 1, repairedChunks: 1 });
    expect(rewritten.refs[0]!.p).toMatch(/^[0-9a-f]{32}$/);
    expect(readdirSync(root)).toContain('packs');
  });
});
