import { appendFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.js';
import { type ChunkRef, ChunkWriter, readChunkInto, readChunks } from '../../src/store/chunk-store.js';
import { zstdAvailable } from '../../src/store/compress.js';
import { sha256Hex } from '../../src/store/hash.js';
import { chunkPath } from '../../src/store/layout.js';
import { compressibleBytes, corruptByte, seededBytes, truncateBy } from '../helpers/bytes.js';
import { chunkFiles, openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();

async function newRoot(): Promise<string> {
  return (await openNewStore(tempDir())).root;
}

async function putAll(root: string, datas: Uint8Array[], compression: 'auto' | 'off' = 'off') {
  const writer = new ChunkWriter(root, compression);
  const refs: ChunkRef[] = [];
  for (const data of datas) refs.push(await writer.put(data));
  const stats = await writer.finish();
  return { refs, stats };
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

  it('writes nothing for bytes it already holds (dedup, within and across writers)', async () => {
    const root = await newRoot();
    const data = seededBytes(3, 200_000);
    const first = await putAll(root, [data, data]);
    expect(first.stats).toMatchObject({ chunks: 2, newChunks: 1, writtenBytes: 200_000 });
    const files = chunkFiles(root);
    const mtime = statSync(files[0]!).mtimeMs;

    const second = await putAll(root, [data]);
    expect(second.stats).toMatchObject({ chunks: 1, newChunks: 0, writtenBytes: 0 });
    expect(second.refs[0]).toEqual(first.refs[0]);
    expect(chunkFiles(root)).toEqual(files);
    expect(statSync(files[0]!).mtimeMs).toBe(mtime);
  });

  it("with compression 'auto' stores compressible data as .zst and random data raw", async () => {
    expect(zstdAvailable()).toBe(true);
    const root = await newRoot();
    const text = compressibleBytes(1 << 20);
    const noise = seededBytes(4, 1 << 20);
    const { refs, stats } = await putAll(root, [text, noise], 'auto');
    const [packed, raw] = refs as [ChunkRef, ChunkRef];

    expect(packed.z).toBe(1);
    expect(existsSync(chunkPath(root, packed.h, true))).toBe(true);
    expect(existsSync(chunkPath(root, packed.h, false))).toBe(false);
    expect(statSync(chunkPath(root, packed.h, true)).size).toBeLessThan(text.byteLength / 10);
    expect((await readBack(root, packed)).equals(text)).toBe(true);

    expect(raw.z).toBeUndefined();
    expect(statSync(chunkPath(root, raw.h, false)).size).toBe(noise.byteLength);
    expect(existsSync(chunkPath(root, raw.h, true))).toBe(false);
    expect((await readBack(root, raw)).equals(noise)).toBe(true);
    expect(stats.writtenBytes).toBeLessThan(noise.byteLength + text.byteLength / 10);

    // A later writer that dedups against the compressed chunk must learn that it is compressed.
    const again = await putAll(root, [text], 'auto');
    expect(again.refs[0]).toEqual(packed);
  });

  it("with compression 'off' stores even compressible data raw", async () => {
    const root = await newRoot();
    const { refs } = await putAll(root, [compressibleBytes(1 << 20)], 'off');
    expect(refs[0]!.z).toBeUndefined();
    expect(readdirSync(root, { recursive: true }).some((n) => String(n).endsWith('.zst'))).toBe(false);
  });
});

describe('readChunkInto detects damage with IntegrityError', () => {
  const damages: Array<[string, (path: string) => void, RegExp]> = [
    ['a flipped bit at the start', (p) => corruptByte(p, 0, 0x01), /corrupt/],
    ['a flipped bit in the middle', (p) => corruptByte(p, 50_000, 0x80), /corrupt/],
    ['a flipped bit in the last byte', (p) => corruptByte(p, -1, 0x10), /corrupt/],
    ['truncation by one byte', (p) => truncateBy(p, 1), /truncated/],
    ['an extra byte appended', (p) => appendFileSync(p, Buffer.from([0])), /expected 100000/],
  ];

  for (const [what, damage, message] of damages) {
    it(`in a raw chunk: ${what}`, async () => {
      const root = await newRoot();
      const { refs } = await putAll(root, [seededBytes(5, 100_000)]);
      const ref = refs[0]!;
      damage(chunkPath(root, ref.h, false));
      const error = await readBack(root, ref).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IntegrityError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(ref.h);
    });
  }

  it('in a raw chunk: a missing file', async () => {
    const root = await newRoot();
    const { refs } = await putAll(root, [seededBytes(6, 1000)]);
    await rm(chunkPath(root, refs[0]!.h, false));
    await expect(readBack(root, refs[0]!)).rejects.toThrow(IntegrityError);
    await expect(readBack(root, refs[0]!)).rejects.toThrow(/missing/);
  });

  for (const [what, damage] of [
    ['a flipped bit', (p: string) => corruptByte(p, -20, 0x04)],
    ['truncation', (p: string) => truncateBy(p, 5)],
    ['an extra byte', (p: string) => appendFileSync(p, Buffer.from([7]))],
  ] as const) {
    it(`in a compressed chunk: ${what}`, async () => {
      const root = await newRoot();
      const { refs } = await putAll(root, [compressibleBytes(300_000)], 'auto');
      const ref = refs[0]!;
      expect(ref.z).toBe(1);
      damage(chunkPath(root, ref.h, true));
      await expect(readBack(root, ref)).rejects.toThrow(IntegrityError);
    });
  }
});
