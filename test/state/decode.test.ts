import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { decodeValue, encodeValue, VALUE_ENCODING } from '../../src/state/index.js';

const NO_BLOBS = new Map<string, Uint8Array>();

function doc(value: unknown): Buffer {
  return Buffer.from(JSON.stringify({ encoding: VALUE_ENCODING, value }), 'utf8');
}

function malformed(bytes: Uint8Array, blobs: ReadonlyMap<string, Uint8Array> = NO_BLOBS): string {
  try {
    decodeValue(bytes, blobs);
  } catch (error) {
    expect(error).toBeInstanceOf(FormatError);
    return (error as FormatError).message;
  }
  throw new Error('decodeValue accepted the document');
}

/** `bytes` at byte offset `offset` of a fresh buffer. */
function placed(bytes: Uint8Array, offset: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(offset + bytes.byteLength), offset);
  out.set(bytes);
  return out;
}

describe('decodeValue zero-copy', () => {
  const floats = new Float64Array([1.5, -2, Number.NaN, 1e300]);
  const bytes = new Uint8Array(floats.buffer);
  const blobDoc = (type: string) => doc({ $: 'blob', type, key: 'b0', length: 32 });

  it('wraps an aligned blob without copying', () => {
    for (const offset of [0, 8, 16]) {
      const blob = placed(bytes, offset);
      const loaded = decodeValue(blobDoc('Float64Array'), new Map([['b0', blob]])) as Float64Array;
      expect(loaded).toBeInstanceOf(Float64Array);
      expect(loaded.buffer).toBe(blob.buffer);
      expect(loaded.byteOffset).toBe(offset);
      expect(loaded).toStrictEqual(floats);
    }
  });

  it('copies a blob that is not aligned for its element size', () => {
    const blob = placed(bytes, 3);
    const loaded = decodeValue(blobDoc('Float64Array'), new Map([['b0', blob]])) as Float64Array;
    expect(loaded.buffer).not.toBe(blob.buffer);
    expect(loaded).toStrictEqual(floats);
    const buffer = decodeValue(blobDoc('Buffer'), new Map([['b0', blob]])) as Buffer;
    expect(Buffer.isBuffer(buffer)).toBe(true);
    expect(buffer.buffer).toBe(blob.buffer);
  });

  it('returns the blob buffer itself for an ArrayBuffer that covers it, else a copy', () => {
    const whole = placed(bytes, 0);
    expect(decodeValue(blobDoc('ArrayBuffer'), new Map([['b0', whole]]))).toBe(whole.buffer);
    const part = placed(bytes, 8);
    const copy = decodeValue(blobDoc('ArrayBuffer'), new Map([['b0', part]])) as ArrayBuffer;
    expect(copy).not.toBe(part.buffer);
    expect(new Uint8Array(copy)).toStrictEqual(new Uint8Array(bytes));
  });
});

describe('decodeValue safety', () => {
  it('makes __proto__ keys own data and never touches a prototype', () => {
    const text = `{"encoding":"${VALUE_ENCODING}","value":{"__proto__":{"polluted":1},"o":{"$":"object","v":{"$":2,"__proto__":[]}}}}`;
    const loaded = decodeValue(Buffer.from(text), NO_BLOBS) as Record<string, Record<string, unknown>>;
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
    expect(Object.hasOwn(loaded, '__proto__')).toBe(true);
    expect(loaded.polluted).toBeUndefined();
    expect(Object.getPrototypeOf(loaded.o)).toBe(Object.prototype);
    expect(Object.keys(loaded.o ?? {})).toEqual(['$', '__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(Object.getOwnPropertyDescriptor(loaded, '__proto__')?.value)).toBe(
      Object.prototype,
    );
  });

  it('accepts a bare -0 from other writers', () => {
    expect(
      Object.is(decodeValue(Buffer.from(`{"encoding":"${VALUE_ENCODING}","value":-0}`), NO_BLOBS), -0),
    ).toBe(true);
  });
});

describe('decodeValue rejects malformed documents with FormatError', () => {
  it('rejects bytes that are not a value document', () => {
    expect(malformed(Buffer.from('{"encoding":'))).toMatch(/not valid UTF-8 JSON/);
    expect(malformed(Buffer.from([0x7b, 0xff, 0x7d]))).toMatch(/not valid UTF-8 JSON/);
    expect(malformed(Buffer.from('[1]'))).toMatch(/`encoding` and `value`/);
    expect(malformed(Buffer.from('{"encoding":"ckpt-value/2","value":1}'))).toMatch(/"ckpt-value\/2"/);
    expect(malformed(Buffer.from(`{"encoding":"${VALUE_ENCODING}","value":1,"x":2}`))).toMatch(/reads/);
    expect(malformed(Buffer.from(`{"encoding":"${VALUE_ENCODING}","value":1e999}`))).toMatch(/out of range/);
  });

  it.each([
    [{ field: [0, 1, 2, { $: 'regexp', v: 'x' }] }, 'value.field[3]: unknown tag "regexp"'],
    [{ a: { $: 7 } }, 'value.a: unknown tag 7'],
    [{ a: { $: 'undefined', v: 1 } }, 'value.a: "undefined" node has unexpected keys'],
    [{ a: { $: 'number', v: 'nan' } }, 'value.a: "nan" is not NaN'],
    [{ a: { $: 'bigint', v: '1.5' } }, 'value.a: bigint "1.5"'],
    [{ a: { $: 'bigint' } }, 'value.a: "bigint" node has no `v`'],
    [{ a: { $: 'date', v: '2020' } }, 'value.a: date "2020"'],
    [{ a: { $: 'object', v: [] } }, 'value.a: "object" has no object `v`'],
    [{ m: { $: 'map', v: [[1]] } }, 'value.m: map entry 0 is not a [key, value] pair'],
    [{ m: { $: 'map', v: [[{ $: 'x' }, 1]] } }, 'value.m[map key 0]: unknown tag "x"'],
    [
      {
        m: {
          $: 'map',
          v: [
            [1, 2],
            [1, 3],
          ],
        },
      },
      'value.m[map key 1]: duplicate map key',
    ],
    [{ s: { $: 'set', v: {} } }, 'value.s: "set" has no array `v`'],
    [{ s: { $: 'set', v: [1, { $: 'x' }] } }, 'value.s[set item 1]: unknown tag "x"'],
    [{ b: { $: 'bytes', type: 'Float128Array', b64: '' } }, 'value.b: unknown binary type "Float128Array"'],
    [{ b: { $: 'bytes', type: 'Uint8Array', b64: 'a b' } }, 'value.b: `b64` is not base64'],
    [
      { b: { $: 'bytes', type: 'Int32Array', b64: 'AAAA' } },
      'value.b: 3 bytes is not a whole number of Int32Array',
    ],
    [
      { 'x y': { $: 'blob', type: 'Uint8Array', key: 'b9', length: 0 } },
      'value["x y"]: blob "b9" is missing',
    ],
    [{ b: { $: 'blob', type: 'Uint8Array', key: 'b0', length: -1 } }, 'value.b: blob `length` is not a size'],
  ])('rejects %j', (value, message) => {
    expect(malformed(doc(value))).toContain(`Malformed value document at ${message}`);
  });

  it('rejects blobs of the wrong size or used twice', () => {
    const blobs = new Map([['b0', new Uint8Array(12)]]);
    const node = (type: string, length: number) => ({ $: 'blob', type, key: 'b0', length });
    expect(malformed(doc([node('Uint8Array', 16)]), blobs)).toContain(
      'at value[0]: blob "b0" has 12 bytes, the document says 16',
    );
    expect(malformed(doc({ w: node('Float64Array', 12) }), blobs)).toContain(
      'at value.w: 12 bytes is not a whole number of Float64Array elements (8 bytes each)',
    );
    expect(malformed(doc([node('Uint8Array', 12), node('Uint8Array', 12)]), blobs)).toContain(
      'at value[1]: blob "b0" is referenced twice',
    );
  });

  it('turns nesting too deep for the stack into a FormatError', () => {
    const depth = 200_000;
    const text = `{"encoding":"${VALUE_ENCODING}","value":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    expect(malformed(Buffer.from(text))).toMatch(/cannot be decoded/);
  });

  it('reads what encodeValue wrote with extra unrelated blobs present', () => {
    const { doc: bytes } = encodeValue({ a: 1 });
    expect(decodeValue(bytes, new Map([['b7', new Uint8Array(1)]]))).toStrictEqual({ a: 1 });
  });
});
