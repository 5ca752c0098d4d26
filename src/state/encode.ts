/**
 * # The `ckpt-value/1` encoding
 *
 * A JavaScript value is stored as one UTF-8 JSON document plus zero or more raw binary blobs.
 * Nothing in it is code: a reader parses JSON and wraps bytes, so any language can read it, and
 * loading never runs code (no eval, no constructors looked up by name, no prototypes set).
 *
 * The document is `{"encoding":"ckpt-value/1","value":NODE}` with exactly these two keys.
 * A NODE is one of:
 *
 * - `null`, `true`, `false`, a JSON string: itself. (Lone surrogates are written as `\uXXXX`.)
 * - A JSON number: a finite number other than -0, in shortest round-trip form.
 * - `{"$":"number","v":"NaN" | "Infinity" | "-Infinity" | "-0"}`: the other numbers.
 *   (Readers also accept a bare `-0`.)
 * - `{"$":"undefined"}`.
 * - `{"$":"bigint","v":"-123"}`: a BigInt in decimal (no `+`, no leading zeros).
 * - `{"$":"date","v":MS}`: a Date, MS = integer milliseconds since 1970 UTC, or `null` for an invalid Date.
 * - A JSON array of NODEs: an Array, elements `0 .. length-1`; holes are stored as `{"$":"undefined"}`.
 * - A JSON object without a `"$"` key: a plain object (prototype `Object.prototype` or `null`); its own
 *   enumerable string keys in property order, each mapped to a NODE.
 * - `{"$":"object","v":{...}}`: a plain object that has an own key `"$"` (so that every JSON object
 *   with a `"$"` key is a tagged node). `v` maps all its keys, `"$"` included, to NODEs.
 * - `{"$":"map","v":[[KEY,VALUE], ...]}`: a Map in insertion order; KEY and VALUE are NODEs.
 * - `{"$":"set","v":[ITEM, ...]}`: a Set in insertion order.
 * - `{"$":"bytes","type":TYPE,"b64":"..."}`: binary data inline, standard padded base64.
 * - `{"$":"blob","type":TYPE,"key":"b0","length":N}`: binary data in the blob named `key`, exactly N bytes.
 *
 * Tagged nodes have exactly the keys shown. TYPE is one of `Int8Array`, `Uint8Array`, `Uint8ClampedArray`,
 * `Int16Array`, `Uint16Array`, `Int32Array`, `Uint32Array`, `Float32Array`, `Float64Array`, `BigInt64Array`,
 * `BigUint64Array`, `Buffer`, `ArrayBuffer` or `DataView`. The bytes are the viewed memory
 * (`byteOffset .. byteOffset + byteLength`, not the rest of the underlying buffer), multi-byte
 * elements little-endian; their count must be a multiple of the element size. Data smaller than the
 * inline limit ({@link DEFAULT_INLINE_LIMIT} unless told) is inlined, the rest goes to blobs, named
 * `b0`, `b1`, ... in the order the encoder meets them (depth first, in document order). Each blob
 * is referenced exactly once.
 *
 * What does not survive, by design:
 * - Identity: an object referenced twice is stored twice and decodes as two equal objects; two views
 *   on one buffer decode as two independent arrays. Cycles are rejected.
 * - Null-prototype objects decode as ordinary `{}` objects. Keys such as `__proto__` come back as own
 *   properties; they never set a prototype.
 * - Non-enumerable properties, and properties other than the contents on Arrays (e.g. the `index` of
 *   a RegExp match), Maps, Sets, Dates and binary data, are not stored (as with JSON).
 *
 * Rejected with {@link UnsupportedValueError}, naming the path (`value.a.b[2]`): functions, symbols,
 * enumerable symbol-keyed properties, cycles, and objects of any other kind (class instances,
 * subclasses of the kinds above, RegExp, Error, Promise, WeakMap, boxed primitives, ...).
 */
import { types } from 'node:util';
import { UnsupportedValueError, UsageError } from '../errors.js';
import {
  BINARY_BY_PROTOTYPE,
  elementSize,
  formatPath,
  HOST_IS_LITTLE_ENDIAN,
  type PathSegment,
  Step,
  type TypedArrayName,
  VALUE_ENCODING,
} from './format.js';

/** Binary data with this many bytes or more goes to a blob; smaller is inlined as base64. */
export const DEFAULT_INLINE_LIMIT = 64 * 1024;

/** One blob of an encoded value: raw bytes that the document refers to by `key`. */
export interface BlobView {
  /** `b0`, `b1`, ... in the order the encoder met them. */
  key: string;
  /** A view on the caller's memory (zero-copy): write it out before mutating the value again. */
  bytes: Uint8Array;
  /** What the bytes were, as written in the document. */
  type: TypedArrayName;
}

/** A value in the `ckpt-value/1` encoding: the JSON document and the blobs it refers to. */
export interface EncodedValue {
  /** The UTF-8 JSON document. */
  doc: Buffer;
  blobs: BlobView[];
}

/** Options of {@link encodeValue}. */
export interface EncodeOptions {
  /** Byte size from which binary data goes to a blob instead of inline base64 (default 64 KiB). */
  inlineLimit?: number;
}

type JsonNode = null | boolean | number | string | JsonNode[] | { [key: string]: JsonNode };

const UNDEFINED_NODE: JsonNode = { $: 'undefined' };
const CLASS_HINT =
  'Convert it to a plain object (ckpt never runs code when loading, so it cannot rebuild class instances).';

/**
 * Encodes `value` in the `ckpt-value/1` encoding (see the top of this file). Large binary data is
 * not copied: the returned blobs are views on the value's own memory. Throws
 * {@link UnsupportedValueError} for anything that cannot be stored without running code on load.
 */
export function encodeValue(value: unknown, options: EncodeOptions = {}): EncodedValue {
  const inlineLimit = options.inlineLimit ?? DEFAULT_INLINE_LIMIT;
  if (typeof inlineLimit !== 'number' || Number.isNaN(inlineLimit) || inlineLimit < 0) {
    throw new UsageError(`inlineLimit must be a number of bytes >= 0, got ${String(inlineLimit)}.`);
  }
  const encoder = new Encoder(inlineLimit);
  try {
    const node = encoder.node(value);
    const doc = Buffer.from(JSON.stringify({ encoding: VALUE_ENCODING, value: node }), 'utf8');
    return { doc, blobs: encoder.blobs };
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new UnsupportedValueError(`Cannot store the value: ${error.message}.`, {
      hint: 'The value is nested too deeply or too large for one JSON document; store big arrays as typed arrays.',
      cause: error,
    });
  }
}

class Encoder {
  readonly blobs: BlobView[] = [];
  private readonly path: PathSegment[] = [];
  /** The containers on the current path, for cycle detection. */
  private readonly open = new Set<object>();

  constructor(private readonly inlineLimit: number) {}

  node(value: unknown): JsonNode {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (Number.isFinite(value) && !Object.is(value, -0)) return value;
        return { $: 'number', v: Object.is(value, -0) ? '-0' : String(value) };
      case 'undefined':
        return UNDEFINED_NODE;
      case 'bigint':
        return { $: 'bigint', v: value.toString() };
      case 'symbol':
        return this.reject('a symbol', 'Store its description as a string instead.');
      case 'function':
        return this.reject(
          `a function${value.name ? ` (${value.name})` : ''}`,
          'Functions are code, and ckpt never runs code when loading: store the data the function needs and recreate it after loading.',
        );
      case 'object':
        return value === null ? null : this.object(value);
      default:
        return this.reject(`a ${typeof value}`, 'Store plain data instead.');
    }
  }

  private object(value: object): JsonNode {
    if (this.open.has(value)) {
      return this.reject(
        'a reference back to one of its own containers (a cycle)',
        'Break the cycle before saving, e.g. store ids instead of back-references, and relink after loading.',
      );
    }
    const proto: unknown = Object.getPrototypeOf(value);
    let node: JsonNode;
    this.open.add(value);
    if (proto === Object.prototype || proto === null) node = this.plain(value);
    else if (proto === Array.prototype && Array.isArray(value)) node = this.array(value);
    else if (proto === Map.prototype && types.isMap(value)) node = this.map(value);
    else if (proto === Set.prototype && types.isSet(value)) node = this.set(value);
    else node = this.leaf(value, proto);
    this.open.delete(value);
    return node;
  }

  /** Dates, binary data, and the kinds we reject. */
  private leaf(value: object, proto: unknown): JsonNode {
    if (proto === Date.prototype && types.isDate(value)) {
      const ms = Date.prototype.getTime.call(value);
      return { $: 'date', v: Number.isNaN(ms) ? null : ms };
    }
    const binary = typeof proto === 'object' && proto !== null ? BINARY_BY_PROTOTYPE.get(proto) : undefined;
    if (binary && (ArrayBuffer.isView(value) || types.isArrayBuffer(value)))
      return this.binary(value, binary);
    return this.rejectObject(value, proto);
  }

  private plain(value: object): JsonNode {
    for (const symbol of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, symbol)) {
        return this.reject(
          `an object with a symbol-keyed property (${String(symbol)})`,
          'Use string keys, or make the symbol-keyed property non-enumerable to leave it out.',
        );
      }
    }
    const record = value as Record<string, unknown>;
    const out: { [key: string]: JsonNode } = {};
    for (const key of Object.keys(record)) {
      this.path.push(key);
      const node = this.node(record[key]);
      this.path.pop();
      // A key named `__proto__` must become an own property, not set the prototype.
      if (key === '__proto__')
        Object.defineProperty(out, key, { value: node, enumerable: true, writable: true });
      else out[key] = node;
    }
    return Object.prototype.propertyIsEnumerable.call(value, '$') ? { $: 'object', v: out } : out;
  }

  private array(value: readonly unknown[]): JsonNode {
    const out = new Array<JsonNode>(value.length);
    for (let i = 0; i < value.length; i++) {
      this.path.push(i);
      out[i] = this.node(value[i]);
      this.path.pop();
    }
    return out;
  }

  private map(value: Map<unknown, unknown>): JsonNode {
    const out: JsonNode[] = [];
    let i = 0;
    for (const [key, item] of value) {
      this.path.push(new Step(`[map key ${i}]`));
      const keyNode = this.node(key);
      this.path.pop();
      this.path.push(new Step(`[map value ${i}]`));
      out.push([keyNode, this.node(item)]);
      this.path.pop();
      i++;
    }
    return { $: 'map', v: out };
  }

  private set(value: Set<unknown>): JsonNode {
    const out: JsonNode[] = [];
    let i = 0;
    for (const item of value) {
      this.path.push(new Step(`[set item ${i++}]`));
      out.push(this.node(item));
      this.path.pop();
    }
    return { $: 'set', v: out };
  }

  private binary(value: ArrayBufferView | ArrayBuffer, type: TypedArrayName): JsonNode {
    if (!HOST_IS_LITTLE_ENDIAN && elementSize(type) > 1) {
      return this.reject(
        `a ${type} on a big-endian host`,
        'ckpt stores multi-byte arrays little-endian; save a Uint8Array of explicitly ordered bytes instead.',
      );
    }
    const bytes = ArrayBuffer.isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value);
    if (bytes.byteLength < this.inlineLimit) {
      const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
      return { $: 'bytes', type, b64 };
    }
    const key = `b${this.blobs.length}`;
    this.blobs.push({ key, bytes, type });
    return { $: 'blob', type, key, length: bytes.byteLength };
  }

  private rejectObject(value: object, proto: unknown): never {
    if (types.isRegExp(value)) return this.reject('a RegExp', 'Store its `source` and `flags` as strings.');
    if (types.isNativeError(value) || value instanceof Error) {
      return this.reject('an Error', 'Store its `message` (and `stack`) as strings.');
    }
    if (types.isPromise(value)) return this.reject('a Promise', 'Await it and store the result.');
    if (types.isWeakMap(value) || types.isWeakSet(value)) {
      return this.reject('a WeakMap or WeakSet', 'Weak collections cannot be listed; use a Map or Set.');
    }
    if (types.isSharedArrayBuffer(value)) {
      return this.reject(
        'a SharedArrayBuffer',
        'Store a typed array over it, or copy it into an ArrayBuffer.',
      );
    }
    const ctor =
      typeof proto === 'object' && proto !== null
        ? Object.getOwnPropertyDescriptor(proto, 'constructor')
        : undefined;
    const name = typeof ctor?.value === 'function' && ctor.value.name ? ctor.value.name : '(anonymous)';
    return this.reject(`an instance of class ${name}`, CLASS_HINT);
  }

  private reject(what: string, hint: string): never {
    throw new UnsupportedValueError(`Cannot store ${formatPath(this.path)}: it is ${what}.`, { hint });
  }
}
