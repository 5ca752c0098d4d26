/**
 * Pieces shared by the encoder and the decoder of the `ckpt-value/1` encoding (spec: encode.ts):
 * the encoding name, the binary kinds and their element sizes, and how paths inside a value are
 * spelled in error messages.
 */
import { endianness } from 'node:os';

/** Name of the value encoding, written as `"encoding"` at the top of every value document. */
export const VALUE_ENCODING = 'ckpt-value/1';

/** The eleven typed-array classes. */
export type TypedArrayKind =
  | 'Int8Array'
  | 'Uint8Array'
  | 'Uint8ClampedArray'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'Float32Array'
  | 'Float64Array'
  | 'BigInt64Array'
  | 'BigUint64Array';

/**
 * The `"type"` of a binary node: a typed-array class, or `Buffer` (Node's Uint8Array subclass),
 * `ArrayBuffer` or `DataView`. Whatever the type, the stored bytes are the raw memory, little-endian.
 */
export type TypedArrayName = TypedArrayKind | 'Buffer' | 'ArrayBuffer' | 'DataView';

/** What the decoder needs of a typed-array class. */
export interface TypedArrayClass {
  readonly BYTES_PER_ELEMENT: number;
  readonly prototype: object;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView;
}

/** The typed-array classes by name. */
export const TYPED_ARRAYS: Readonly<Record<TypedArrayKind, TypedArrayClass>> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** Binary kinds by exact prototype; subclasses (other than Buffer) are not in here on purpose. */
export const BINARY_BY_PROTOTYPE: ReadonlyMap<object, TypedArrayName> = new Map<object, TypedArrayName>([
  ...Object.entries(TYPED_ARRAYS).map(([name, cls]) => [cls.prototype, name as TypedArrayName] as const),
  [Buffer.prototype, 'Buffer'],
  [ArrayBuffer.prototype, 'ArrayBuffer'],
  [DataView.prototype, 'DataView'],
]);

/** Whether `name` is a valid binary `"type"`. */
export function isTypedArrayName(name: unknown): name is TypedArrayName {
  return (
    typeof name === 'string' &&
    (Object.hasOwn(TYPED_ARRAYS, name) || name === 'Buffer' || name === 'ArrayBuffer' || name === 'DataView')
  );
}

/** Bytes per element of a binary kind (1 for Buffer, ArrayBuffer and DataView). */
export function elementSize(name: TypedArrayName): number {
  return name === 'Buffer' || name === 'ArrayBuffer' || name === 'DataView'
    ? 1
    : TYPED_ARRAYS[name].BYTES_PER_ELEMENT;
}

/** Multi-byte elements are stored little-endian, which is only the raw memory on a little-endian host. */
export const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

/** A path step that is not an object key or array index: a Map key or value, a Set item. */
export class Step {
  constructor(readonly text: string) {}
}

/** A path inside a value: object keys, array indices and {@link Step}s, outermost first. */
export type PathSegment = string | number | Step;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Spells a path the way JavaScript would: `value.field[3]["odd key"][map value 0]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = 'value';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string') out += IDENTIFIER.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`;
    else out += seg.text;
  }
  return out;
}
