import { FormatError, UnsupportedValueError } from '../errors.js';
import {
  elementSize,
  formatPath,
  HOST_IS_LITTLE_ENDIAN,
  isTypedArrayName,
  type PathSegment,
  Step,
  TYPED_ARRAYS,
  type TypedArrayName,
  VALUE_ENCODING,
} from './format.js';

type JsonObject = { [key: string]: unknown };

const SPECIAL_NUMBERS: ReadonlyMap<unknown, number> = new Map<unknown, number>([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['-0', -0],
]);
const BIGINT = /^(?:0|-?[1-9][0-9]*)$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_TIME = 8.64e15;
const HINT = 'The value document is damaged or was not written by ckpt; restore an older checkpoint.';

/**
 * Decodes a value in the `ckpt-value/1` encoding (spec: encode.ts) from its JSON document and its
 * blobs by key. Never runs code: it only parses JSON and wraps bytes.
 *
 * Binary data from a blob is not copied when the blob's `byteOffset` is a multiple of the element
 * size: the result is then a view on the blob's memory (an `ArrayBuffer` is the blob's own buffer
 * when the blob covers all of it). Otherwise, and for inline data, it gets fresh memory.
 *
 * Throws {@link FormatError}, naming the path in the value and the problem, for anything malformed:
 * bad UTF-8 or JSON, another encoding name, an unknown tag, a wrong field, a missing blob, a blob
 * whose size is wrong or not a multiple of the element size.
 */
export function decodeValue(doc: Uint8Array, blobs: ReadonlyMap<string, Uint8Array>): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(doc));
  } catch (error) {
    throw new FormatError(`The value document is not valid UTF-8 JSON: ${(error as Error).message}.`, {
      hint: HINT,
      cause: error,
    });
  }
  if (!isObject(parsed) || !Object.hasOwn(parsed, 'encoding') || !Object.hasOwn(parsed, 'value')) {
    throw new FormatError('The value document is not an object with `encoding` and `value`.', { hint: HINT });
  }
  if (parsed.encoding !== VALUE_ENCODING || Object.keys(parsed).length !== 2) {
    throw new FormatError(
      `The value document has encoding ${JSON.stringify(parsed.encoding)}; this ckpt reads "${VALUE_ENCODING}" only.`,
      { hint: 'Upgrade ckpt (npm install -g ckpt@latest) to read this checkpoint.' },
    );
  }
  try {
    return new Decoder(blobs).node(parsed.value);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new FormatError(`The value document cannot be decoded: ${error.message}.`, {
      hint: HINT,
      cause: error,
    });
  }
}

class Decoder {
  private readonly path: PathSegment[] = [];
  private readonly used = new Set<string>();

  constructor(private readonly blobs: ReadonlyMap<string, Uint8Array>) {}

  node(json: unknown): unknown {
    if (typeof json === 'number') return Number.isFinite(json) ? json : this.fail('number out of range');
    if (json === null || typeof json !== 'object') return json;
    if (Array.isArray(json)) return this.array(json);
    const node = json as JsonObject;
    return Object.hasOwn(node, '$') ? this.tagged(node) : this.plain(node);
  }

  private tagged(node: JsonObject): unknown {
    const tag = node.$;
    switch (tag) {
      case 'undefined':
        this.shape(node, []);
        return undefined;
      case 'number':
        this.shape(node, ['v']);
        return (
          SPECIAL_NUMBERS.get(node.v) ?? this.fail(`${str(node.v)} is not NaN, Infinity, -Infinity or -0`)
        );
      case 'bigint':
        this.shape(node, ['v']);
        return typeof node.v === 'string' && BIGINT.test(node.v)
          ? BigInt(node.v)
          : this.fail(`bigint ${str(node.v)} is not a decimal integer string`);
      case 'date':
        this.shape(node, ['v']);
        if (node.v === null) return new Date(Number.NaN);
        if (typeof node.v !== 'number' || !Number.isInteger(node.v) || Math.abs(node.v) > MAX_TIME) {
          return this.fail(`date ${str(node.v)} is not integer milliseconds or null`);
        }
        return new Date(node.v);
      case 'object':
        this.shape(node, ['v']);
        return isObject(node.v) ? this.plain(node.v) : this.fail('"object" has no object `v`');
      case 'map':
        return this.map(node);
      case 'set':
        return this.set(node);
      case 'bytes':
        return this.bytes(node);
      case 'blob':
        return this.blob(node);
      default:
        return this.fail(`unknown tag ${str(tag)}`);
    }
  }

  private plain(node: JsonObject): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(node)) {
      this.path.push(key);
      const value = this.node(node[key]);
      this.path.pop();
      if (key === '__proto__') {
        Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        out[key] = value;
      }
    }
    return out;
  }

  private array(json: unknown[]): unknown[] {
    const out = new Array<unknown>(json.length);
    for (let i = 0; i < json.length; i++) {
      this.path.push(i);
      out[i] = this.node(json[i]);
      this.path.pop();
    }
    return out;
  }

  private map(node: JsonObject): Map<unknown, unknown> {
    const entries = this.list(node);
    const out = new Map<unknown, unknown>();
    entries.forEach((entry, i) => {
      if (!Array.isArray(entry) || entry.length !== 2) this.fail(`map entry ${i} is not a [key, value] pair`);
      this.path.push(new Step(`[map key ${i}]`));
      const key = this.node(entry[0]);
      if (out.has(key)) this.fail('duplicate map key');
      this.path.pop();
      this.path.push(new Step(`[map value ${i}]`));
      out.set(key, this.node(entry[1]));
      this.path.pop();
    });
    return out;
  }

  private set(node: JsonObject): Set<unknown> {
    const items = this.list(node);
    const out = new Set<unknown>();
    items.forEach((item, i) => {
      this.path.push(new Step(`[set item ${i}]`));
      const value = this.node(item);
      if (out.has(value)) this.fail('duplicate set item');
      out.add(value);
      this.path.pop();
    });
    return out;
  }

  private list(node: JsonObject): unknown[] {
    this.shape(node, ['v']);
    return Array.isArray(node.v) ? node.v : this.fail(`${str(node.$)} has no array \`v\``);
  }

  private bytes(node: JsonObject): unknown {
    this.shape(node, ['type', 'b64']);
    const type = this.type(node);
    if (typeof node.b64 !== 'string' || !BASE64.test(node.b64)) return this.fail('`b64` is not base64');
    const data = Buffer.from(node.b64, 'base64');
    this.checkLength(type, data.byteLength);
    const memory = new ArrayBuffer(data.byteLength);
    new Uint8Array(memory).set(data);
    return type === 'ArrayBuffer' ? memory : view(type, memory, 0, data.byteLength);
  }

  private blob(node: JsonObject): unknown {
    this.shape(node, ['type', 'key', 'length']);
    const type = this.type(node);
    const { key, length } = node;
    if (typeof key !== 'string') return this.fail('blob `key` is not a string');
    if (!Number.isSafeInteger(length) || (length as number) < 0)
      return this.fail('blob `length` is not a size');
    const blob = this.blobs.get(key);
    if (blob === undefined) return this.fail(`blob ${str(key)} is missing`);
    if (this.used.has(key)) return this.fail(`blob ${str(key)} is referenced twice`);
    this.used.add(key);
    if (blob.byteLength !== length) {
      return this.fail(`blob ${str(key)} has ${blob.byteLength} bytes, the document says ${str(length)}`);
    }
    this.checkLength(type, blob.byteLength);
    const { buffer, byteOffset, byteLength } = blob;
    if (type === 'ArrayBuffer') {
      if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength)
        return buffer;
    } else if (byteOffset % elementSize(type) === 0) {
      return view(type, buffer, byteOffset, byteLength);
    }
    const memory = new ArrayBuffer(byteLength);
    new Uint8Array(memory).set(blob);
    return type === 'ArrayBuffer' ? memory : view(type, memory, 0, byteLength);
  }

  private type(node: JsonObject): TypedArrayName {
    const { type } = node;
    if (!isTypedArrayName(type)) return this.fail(`unknown binary type ${str(type)}`);
    if (!HOST_IS_LITTLE_ENDIAN && elementSize(type) > 1) {
      throw new UnsupportedValueError(
        `Cannot load ${formatPath(this.path)}: a ${type} on a big-endian host.`,
        {
          hint: 'ckpt stores multi-byte arrays little-endian and does not swap bytes; load it on a little-endian host.',
        },
      );
    }
    return type;
  }

  private checkLength(type: TypedArrayName, byteLength: number): void {
    const size = elementSize(type);
    if (byteLength % size !== 0)
      this.fail(`${byteLength} bytes is not a whole number of ${type} elements (${size} bytes each)`);
  }

  /** Checks that a tagged node has `$`, the given keys and nothing else. */
  private shape(node: JsonObject, keys: readonly string[]): void {
    for (const key of keys) if (!Object.hasOwn(node, key)) this.fail(`${str(node.$)} node has no \`${key}\``);
    const count = Object.keys(node).length;
    if (count !== keys.length + 1) this.fail(`${str(node.$)} node has unexpected keys`);
  }

  private fail(what: string): never {
    throw new FormatError(`Malformed value document at ${formatPath(this.path)}: ${what}.`, { hint: HINT });
  }
}

function view(
  type: Exclude<TypedArrayName, 'ArrayBuffer'>,
  buffer: ArrayBufferLike,
  offset: number,
  bytes: number,
) {
  if (type === 'Buffer') return Buffer.from(buffer, offset, bytes);
  if (type === 'DataView') return new DataView(buffer, offset, bytes);
  const cls = TYPED_ARRAYS[type];
  return new cls(buffer, offset, bytes / cls.BYTES_PER_ELEMENT);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value from the document, short, for messages. */
function str(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
