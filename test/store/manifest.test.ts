import { describe, expect, it } from 'vitest';
import { FormatError, IntegrityError } from '../../src/errors.js';
import { entryHash, sha256Hex } from '../../src/store/hash.js';
import {
  type FileEntry,
  type Manifest,
  manifestChunks,
  NewerFormatError,
  parseManifest,
  serializeManifest,
} from '../../src/store/manifest.js';
import { sampleManifest } from '../helpers/store.js';

const H1 = sha256Hex('one');
const H2 = sha256Hex('two');

function richManifest(): Manifest {
  return sampleManifest({
    seq: 7,
    step: 1200.5,
    writer: { host: 'node07', pid: 4123, slurm: { jobId: '88123', arrayTaskId: '3', restartCount: 2 } },
    entries: [
      { type: 'dir', path: 'out', mode: 0o755 },
      {
        type: 'file',
        path: 'out/state.bin',
        mode: 0o644,
        size: 30,
        mtimeMs: 1_700_000_000_123.25,
        hash: entryHash([H1, H2]),
        chunks: [
          { h: H1, n: 10 },
          { h: H2, n: 20, z: 1 },
        ],
      },
      { type: 'symlink', path: 'out/latest', target: 'state.bin' },
      { type: 'blob', key: 'value', size: 0, hash: entryHash([]), chunks: [] },
    ],
  });
}

/** Serializes an arbitrary JSON body with a correct checksum line. */
function withChecksum(body: unknown): Buffer {
  return serializeManifest(body as Manifest);
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('serializeManifest / parseManifest', () => {
  it('round-trips a manifest with every entry type', () => {
    const manifest = richManifest();
    const bytes = serializeManifest(manifest);
    expect(bytes.toString('utf8')).toMatch(/^\{.*\}\nsha256:[0-9a-f]{64}\n$/);
    expect(parseManifest(bytes, '#7')).toEqual(manifest);
    expect(manifestChunks(manifest).map((c) => c.h)).toEqual([H1, H2]);
  });

  it('rejects every single flipped bit anywhere in the file with IntegrityError', () => {
    const bytes = serializeManifest(richManifest());
    const accepted: string[] = [];
    for (let at = 0; at < bytes.byteLength; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(bytes);
        copy[at]! ^= 1 << bit;
        // docs/format.md 4.1: trailing whitespace after the checksum is accepted (\n → \v here).
        if (at === bytes.byteLength - 1 && /^\s$/.test(String.fromCharCode(copy[at]!))) {
          expect(parseManifest(copy, '#7')).toEqual(richManifest());
          continue;
        }
        const error = errorOf(() => parseManifest(copy, '#7'));
        if (!(error instanceof IntegrityError)) accepted.push(`byte ${at} bit ${bit}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  it('rejects a missing checksum line and every truncation with IntegrityError', () => {
    const bytes = serializeManifest(richManifest());
    const body = bytes.subarray(0, bytes.indexOf(0x0a) + 1);
    expect(() => parseManifest(body, '#7')).toThrow(IntegrityError);
    expect(() => parseManifest(body, '#7')).toThrow(/no checksum line/);
    expect(() => parseManifest(Buffer.from(`${JSON.stringify(richManifest())}`), '#7')).toThrow(
      IntegrityError,
    );
    for (let length = 0; length < bytes.byteLength - 1; length++) {
      expect(() => parseManifest(bytes.subarray(0, length), '#7'), `cut at ${length}`).toThrow(
        IntegrityError,
      );
    }
  });

  it('names the manifest in its errors', () => {
    const bytes = serializeManifest(richManifest());
    expect(() => parseManifest(bytes.subarray(0, 40), '#7')).toThrow(/Manifest #7/);
  });
});

describe('format versions and shapes', () => {
  it('refuses a manifest from a newer format version with a FormatError whose hint says to upgrade', () => {
    const newer = withChecksum({ ...richManifest(), version: 4, entries: [{ type: 'chunk-pack-v3' }] });
    const error = errorOf(() => parseManifest(newer, '#7'));
    expect(error).toBeInstanceOf(NewerFormatError);
    expect((error as FormatError).message).toMatch(/has format version 4; this ckpt reads up to version 3/);
    // The reason (documented in docs/format.md 7.2) names the versions; the hint says how to upgrade.
    expect((error as FormatError).hint).toMatch(/upgrade ckpt/i);
    expect((error as FormatError).hint).toMatch(/npm install -g ckpt@latest/);
  });

  const good = (): Record<string, unknown> =>
    JSON.parse(JSON.stringify(richManifest())) as Record<string, unknown>;
  const withEntry = (entry: unknown) => ({ ...good(), entries: [entry] });
  const file = (fields: Record<string, unknown>) => ({ ...richManifest().entries[1], ...fields });
  const malformed: Array<[string, unknown]> = [
    ['not an object', [1, 2]],
    ['wrong format tag', { ...good(), format: 'something-else' }],
    ['no version', { ...good(), version: undefined }],
    ['seq 0', { ...good(), seq: 0 }],
    ['seq not an integer', { ...good(), seq: 1.5 }],
    ['step a string', { ...good(), step: '12' }],
    ['no time', { ...good(), time: undefined }],
    ['no writer', { ...good(), writer: null }],
    ['meta an array', { ...good(), meta: [] }],
    ['entries not an array', { ...good(), entries: {} }],
    ['an entry that is not an object', withEntry('out/state.bin')],
    ['an entry of unknown type', withEntry({ type: 'socket', path: 'x' })],
    ['a file without path', withEntry(file({ path: 3 }))],
    ['a file with negative size', withEntry(file({ size: -1 }))],
    ['a file with a short hash', withEntry(file({ hash: 'abc' }))],
    ['a file whose chunks is not an array', withEntry(file({ chunks: 'x' }))],
    ['a chunk reference without n', withEntry(file({ chunks: [{ h: H1 }] }))],
    [
      'a chunk reference with an upper-case hash',
      withEntry(file({ chunks: [{ h: H1.toUpperCase(), n: 30 }] })),
    ],
    ['chunks that do not add up to the size', withEntry(file({ size: 31 }))],
    ['a file without mode', withEntry(file({ mode: undefined }))],
    ['a dir without mode', withEntry({ type: 'dir', path: 'd' })],
    ['a symlink without target', withEntry({ type: 'symlink', path: 'l' })],
    ['a blob without key', withEntry({ type: 'blob', size: 0, hash: entryHash([]), chunks: [] })],
    [
      'a blob whose key is a path',
      withEntry({ type: 'blob', key: '../x', size: 0, hash: entryHash([]), chunks: [] }),
    ],
    ['a file whose hash does not match its chunks', withEntry(file({ hash: entryHash([H2, H1]) }))],
    ['version 0', { ...good(), version: 0 }],
  ];

  it('accepts a chunk hint `x` of 16 hex digits and refuses any other, naming it', () => {
    const withHint = (x: unknown) =>
      withEntry(
        file({
          chunks: [
            { h: H1, n: 10, x },
            { h: H2, n: 20, z: 1 },
          ],
        }),
      );
    const parsed = parseManifest(withChecksum(withHint('0123456789abcdef')), '#7');
    expect((parsed.entries[0] as FileEntry).chunks[0]!.x).toBe('0123456789abcdef');
    for (const x of ['zz', '0123456789ABCDEF', '0123456789abcde', 12, null]) {
      const error = errorOf(() => parseManifest(withChecksum(withHint(x)), '#7'));
      expect(error, String(x)).toBeInstanceOf(FormatError);
      expect((error as FormatError).message).toMatch(/Manifest #7.*bad `x`/);
    }
  });

  for (const [what, body] of malformed) {
    it(`refuses ${what} with FormatError`, () => {
      const error = errorOf(() => parseManifest(withChecksum(body), '#7'));
      expect(error).toBeInstanceOf(FormatError);
      expect(error).not.toBeInstanceOf(NewerFormatError);
      expect((error as FormatError).message).toMatch(/Manifest #7/);
    });
  }

  it('refuses a body that is not JSON (but has a matching checksum) with FormatError', () => {
    const body = '{"format":"ckpt-manifest",';
    const bytes = Buffer.from(`${body}\nsha256:${sha256Hex(body)}\n`);
    expect(() => parseManifest(bytes, '#7')).toThrow(FormatError);
  });
});
