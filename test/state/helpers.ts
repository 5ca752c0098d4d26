import fc from 'fast-check';
import type { BlobView } from '../../src/state/index.js';

/** The binary kinds, with their element size. */
export const BINARY_TYPES = {
  Int8Array: 1,
  Uint8Array: 1,
  Uint8ClampedArray: 1,
  Int16Array: 2,
  Uint16Array: 2,
  Int32Array: 4,
  Uint32Array: 4,
  Float32Array: 4,
  Float64Array: 8,
  BigInt64Array: 8,
  BigUint64Array: 8,
  Buffer: 1,
  ArrayBuffer: 1,
  DataView: 1,
} as const;
export type BinaryType = keyof typeof BINARY_TYPES;

/**
 * Binary data of `type` holding (a whole number of elements of) `bytes`, as a view that starts
 * `slot` elements into a larger buffer so that encoding has to honour byteOffset.
 */
export function makeBinary(type: BinaryType, bytes: Uint8Array, slot: number): unknown {
  const size = BINARY_TYPES[type];
  const length = bytes.length - (bytes.length % size);
  const offset = slot * size;
  const memory = new ArrayBuffer(offset + length + 8);
  const all = new Uint8Array(memory);
  all.fill(0xee);
  all.set(bytes.subarray(0, length), offset);
  switch (type) {
    case 'ArrayBuffer':
      return memory.slice(offset, offset + length);
    case 'Buffer':
      return Buffer.from(memory, offset, length);
    case 'DataView':
      return new DataView(memory, offset, length);
    default:
      return new globalThis[type](memory, offset, length / size);
  }
}

/** Any binary kind, 0..maxBytes bytes. */
export function binaryArb(maxBytes: number): fc.Arbitrary<unknown> {
  const types = Object.keys(BINARY_TYPES) as BinaryType[];
  return fc
    .tuple(fc.constantFrom(...types), fc.uint8Array({ maxLength: maxBytes }), fc.nat(3))
    .map(([type, bytes, slot]) => makeBinary(type, bytes, slot));
}

const keyArb = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('$', '__proto__', 'constructor', 'toString', 'prototype', '0', '7', 'v', 'b64', ''),
);
const stringArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  // Any UTF-16 code units, lone surrogates included.
  fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 8 }),
);
const leafArb = fc.oneof(
  fc.constantFrom(
    null,
    undefined,
    true,
    false,
    0,
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -Number.MAX_VALUE,
  ),
  fc.double(),
  fc.integer(),
  fc.bigInt(),
  stringArb,
  fc.date({ noInvalidDate: false }),
  binaryArb(48),
);

/** Values ckpt can store: nested arrays, plain objects, Maps and Sets over every leaf kind. */
export const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5 }),
    fc.array(fc.tuple(tie('value'), tie('value')), { maxLength: 4 }).map((entries) => new Map(entries)),
    fc.array(tie('value'), { maxLength: 4 }).map((items) => new Set(items)),
  ),
})).value;

/** What a store would hand back: every blob copied into fresh, aligned memory. */
export function storeBlobs(blobs: readonly BlobView[]): Map<string, Uint8Array> {
  return new Map(blobs.map((blob) => [blob.key, new Uint8Array(blob.bytes)]));
}

function bytesOf(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(value)
    ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    : new Uint8Array(value);
}

/**
 * The first difference between what was saved and what was loaded, or undefined. Strict: numbers
 * by Object.is (-0 is not 0), exact prototypes (a null-prototype object must load as `{}`), key,
 * Map and Set order, binary kind and bytes.
 */
export function diff(saved: unknown, loaded: unknown, path = 'value'): string | undefined {
  if (typeof saved !== 'object' || saved === null || typeof loaded !== 'object' || loaded === null) {
    return Object.is(saved, loaded) ? undefined : `${path}: saved ${String(saved)}, loaded ${String(loaded)}`;
  }
  const proto = Object.getPrototypeOf(saved) ?? Object.prototype;
  if (Object.getPrototypeOf(loaded) !== proto) return `${path}: prototype differs`;
  if (saved instanceof Date) {
    return Object.is(saved.getTime(), (loaded as Date).getTime()) ? undefined : `${path}: dates differ`;
  }
  if (saved instanceof ArrayBuffer || ArrayBuffer.isView(saved)) {
    const [a, b] = [bytesOf(saved), bytesOf(loaded as ArrayBufferView)];
    return Buffer.compare(a, b) === 0 ? undefined : `${path}: bytes differ`;
  }
  if (saved instanceof Map || saved instanceof Set) {
    const a = [...saved.entries()];
    const b = [...(loaded as Map<unknown, unknown>).entries()];
    if (a.length !== b.length) return `${path}: size ${a.length} vs ${b.length}`;
    return a.map((entry, i) => diff(entry, b[i], `${path}<entry ${i}>`)).find((d) => d !== undefined);
  }
  const keysA = Object.keys(saved);
  const keysB = Object.keys(loaded);
  if (JSON.stringify(keysA) !== JSON.stringify(keysB)) return `${path}: keys ${keysA} vs ${keysB}`;
  if (Array.isArray(saved) && saved.length !== (loaded as unknown[]).length) return `${path}: length differs`;
  const [a, b] = [saved as Record<string, unknown>, loaded as Record<string, unknown>];
  return keysA
    .map((key) => diff(a[key], b[key], `${path}[${JSON.stringify(key)}]`))
    .find((d) => d !== undefined);
}
