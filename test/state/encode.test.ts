import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnsupportedValueError, UsageError } from '../../src/errors.js';
import { DEFAULT_INLINE_LIMIT, decodeValue, encodeValue, VALUE_ENCODING } from '../../src/state/index.js';
import { BINARY_TYPES, type BinaryType, diff, makeBinary, storeBlobs, valueArb } from './helpers.js';

const limitArb = fc.constantFrom(0, 1, 8, 24, DEFAULT_INLINE_LIMIT, Number.POSITIVE_INFINITY);

function roundTrip(value: unknown, inlineLimit?: number): unknown {
  const { doc, blobs } = encodeValue(value, inlineLimit === undefined ? {} : { inlineLimit });
  return decodeValue(doc, storeBlobs(blobs));
}

/** The `bytes` and `blob` nodes of a parsed document, in document order. */
function binaryNodes(json: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (typeof json !== 'object' || json === null) return out;
  const node = json as Record<string, unknown>;
  if (node.$ === 'bytes' || node.$ === 'blob') out.push(node);
  else for (const child of Object.values(node)) binaryNodes(child, out);
  return out;
}

function unsupported(value: unknown): UnsupportedValueError {
  try {
    encodeValue(value);
  } catch (error) {
    expect(error).toBeInstanceOf(UnsupportedValueError);
    return error as UnsupportedValueError;
  }
  throw new Error('encodeValue accepted the value');
}

describe('encodeValue / decodeValue round trip', () => {
  it('restores every storable value exactly, whatever the inline limit', () => {
    fc.assert(
      fc.property(valueArb, limitArb, (value, inlineLimit) => {
        const { doc, blobs } = encodeValue(value, { inlineLimit });
        const loaded = decodeValue(doc, storeBlobs(blobs));
        expect(diff(value, loaded)).toBeUndefined();
        // The encoding is canonical: saving what was loaded gives the same document.
        expect(encodeValue(loaded, { inlineLimit }).doc.equals(doc)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('puts binary data at or above the limit in blobs b0, b1, ... and inlines the rest', () => {
    fc.assert(
      fc.property(valueArb, fc.constantFrom(0, 8, 24), (value, inlineLimit) => {
        const { doc, blobs } = encodeValue(value, { inlineLimit });
        expect(blobs.map((b) => b.key)).toEqual(blobs.map((_, i) => `b${i}`));
        const nodes = binaryNodes(JSON.parse(doc.toString('utf8')));
        expect(nodes.filter((n) => n.$ === 'blob')).toEqual(
          blobs.map((b) => ({ $: 'blob', type: b.type, key: b.key, length: b.bytes.byteLength })),
        );
        for (const blob of blobs) expect(blob.bytes.byteLength).toBeGreaterThanOrEqual(inlineLimit);
        for (const node of nodes.filter((n) => n.$ === 'bytes')) {
          expect(Buffer.from(String(node.b64), 'base64').byteLength).toBeLessThan(inlineLimit);
        }
      }),
      { numRuns: 200 },
    );
  });

  it.each(Object.keys(BINARY_TYPES) as BinaryType[])('round-trips a %s inline and as a blob', (type) => {
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff);
    const value = { small: makeBinary(type, bytes.subarray(0, 16), 1), big: makeBinary(type, bytes, 2) };
    const { blobs } = encodeValue(value, { inlineLimit: 32 });
    expect(blobs).toEqual([expect.objectContaining({ key: 'b0', type })]);
    expect(diff(value, roundTrip(value, 32))).toBeUndefined();
  });

  it('writes the documented document', () => {
    const value = {
      n: [1.5, -0, Number.NaN, Number.NEGATIVE_INFINITY, undefined, 10n ** 20n],
      o: { $: 'dollar', ok: true, nil: null },
      m: new Map<unknown, unknown>([[{ k: 1 }, new Set(['x'])]]),
      d: [new Date(86_400_000), new Date(Number.NaN)],
      f: new Float32Array([1]),
      big: new Uint16Array([1, 2, 3, 4]),
    };
    const { doc, blobs } = encodeValue(value, { inlineLimit: 8 });
    expect(JSON.parse(doc.toString('utf8'))).toStrictEqual({
      encoding: VALUE_ENCODING,
      value: {
        n: [
          1.5,
          { $: 'number', v: '-0' },
          { $: 'number', v: 'NaN' },
          { $: 'number', v: '-Infinity' },
          { $: 'undefined' },
          { $: 'bigint', v: '100000000000000000000' },
        ],
        o: { $: 'object', v: { $: 'dollar', ok: true, nil: null } },
        m: { $: 'map', v: [[{ k: 1 }, { $: 'set', v: ['x'] }]] },
        d: [
          { $: 'date', v: 86_400_000 },
          { $: 'date', v: null },
        ],
        f: { $: 'bytes', type: 'Float32Array', b64: 'AACAPw==' },
        big: { $: 'blob', type: 'Uint16Array', key: 'b0', length: 8 },
      },
    });
    expect([...blobs[0]!.bytes]).toEqual([1, 0, 2, 0, 3, 0, 4, 0]);
  });

  it('stores holes as undefined and a shared object twice', () => {
    // biome-ignore lint/suspicious/noSparseArray: a hole on purpose
    expect(roundTrip([1, , 3])).toStrictEqual([1, undefined, 3]);
    const shared = { x: 1 };
    const loaded = roundTrip({ a: shared, b: shared }) as Record<string, unknown>;
    expect(loaded).toStrictEqual({ a: { x: 1 }, b: { x: 1 } });
    expect(loaded.a).not.toBe(loaded.b);
  });

  it('stores null-prototype objects as plain objects and ignores non-enumerable properties', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    Object.defineProperty(bare, 'hidden', { value: 2, enumerable: false });
    const loaded = roundTrip(bare);
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
    expect(loaded).toStrictEqual({ a: 1 });
  });

  it('keeps an own __proto__ key as data', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"x":1}') as object;
    const loaded = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
    expect(Object.keys(loaded)).toEqual(['__proto__', 'x']);
    expect(Object.getOwnPropertyDescriptor(loaded, '__proto__')?.value).toStrictEqual({ polluted: true });
    expect((loaded as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
  });
});

describe('encodeValue without copies', () => {
  it('returns blobs that are views on the value memory', () => {
    const memory = new ArrayBuffer(1024);
    const weights = new Float64Array(memory, 16, 100);
    const raw = new ArrayBuffer(256);
    const { blobs } = encodeValue({ weights, raw }, { inlineLimit: 100 });
    expect(blobs).toHaveLength(2);
    const [w, r] = blobs as [(typeof blobs)[0], (typeof blobs)[0]];
    expect(w).toMatchObject({ key: 'b0', type: 'Float64Array' });
    expect(w.bytes.buffer).toBe(memory);
    expect(w.bytes.byteOffset).toBe(16);
    expect(w.bytes.byteLength).toBe(800);
    expect(r.bytes.buffer).toBe(raw);
    weights[0] = 42;
    expect(new Float64Array(w.bytes.buffer, w.bytes.byteOffset, 1)[0]).toBe(42);
  });
});

describe('encodeValue rejections', () => {
  it('rejects a cycle, naming the path', () => {
    const root: Record<string, unknown> = { a: { b: {} } };
    (root.a as { b: Record<string, unknown> }).b.back = root;
    const error = unsupported(root);
    expect(error.message).toContain('value.a.b.back');
    expect(error.hint).toMatch(/^Break the cycle/);
    const list: unknown[] = [1];
    list.push(new Map([['self', list]]));
    expect(unsupported(list).message).toContain('value[1][map value 0]');
  });

  it('rejects functions, symbols and symbol keys, naming the path', () => {
    expect(unsupported({ step: 1, fn: () => 1 }).message).toContain('value.fn: it is a function');
    expect(unsupported([0, Symbol('s')]).message).toContain('value[1]: it is a symbol');
    expect(unsupported({ 'odd key': { [Symbol('k')]: 1 } }).message).toContain('value["odd key"]');
    const hidden = {};
    Object.defineProperty(hidden, Symbol('h'), { value: 1, enumerable: false });
    expect(roundTrip(hidden)).toStrictEqual({});
  });

  it('rejects class instances and other kinds, naming the path and the type', () => {
    class Model {
      w = 1;
    }
    const error = unsupported({ items: [1, new Model()] });
    expect(error.message).toContain('value.items[1]: it is an instance of class Model');
    expect(error.hint).toMatch(/plain object/);
    class MyMap extends Map {}
    class MyArray extends Float32Array {}
    const cases: [unknown, string][] = [
      [new MyMap(), 'class MyMap'],
      [new MyArray(2), 'class MyArray'],
      [/x/g, 'RegExp'],
      [new TypeError('boom'), 'Error'],
      [Promise.resolve(1), 'Promise'],
      [new WeakMap(), 'WeakMap'],
      [new Set([new WeakSet()]), 'WeakSet'],
      [new SharedArrayBuffer(4), 'SharedArrayBuffer'],
      [Object(1n), 'class BigInt'],
    ];
    for (const [value, name] of cases) expect(unsupported(value).message).toContain(name);
    expect(unsupported(new Set([new WeakSet()])).message).toContain('value[set item 0]');
  });

  it('rejects a bad inline limit and nesting too deep for the stack', () => {
    expect(() => encodeValue(1, { inlineLimit: -1 })).toThrow(UsageError);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(unsupported(deep).message).toMatch(/call stack/);
  });
});
