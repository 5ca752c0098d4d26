import { types } from 'node:util';
import { UsageError } from '../errors.js';

/** How many values of an array `ckpt inspect` shows. */
export const FIRST_VALUES = 8;
/** How many children of an object, array, Map or Set are listed (the rest are counted). */
export const MAX_CHILDREN = 100;

/** Statistics of a numeric array: a typed array, or a JavaScript Array of numbers only. */
export interface ArrayStats {
  /** `Float64Array`, `BigInt64Array`…, or `Array` for an Array of numbers. */
  dtype: string;
  length: number;
  /** Over the finite elements; null when there is none. BigInts are given as decimal strings. */
  min: number | string | null;
  max: number | string | null;
  mean: number | null;
  nan: number;
  /** +Infinity and -Infinity together. */
  inf: number;
  /** The first {@link FIRST_VALUES} elements, as text (`-0`, `NaN`, `123n` kept apart). */
  first: string[];
}

/** One node of a value, as `ckpt inspect` shows it. */
export type ValueNode =
  | { path: string; kind: 'array'; stats: ArrayStats }
  | { path: string; kind: 'bytes'; type: string; length: number; first: string[] }
  | { path: string; kind: 'scalar'; type: string; value: string }
  | {
      path: string;
      kind: 'object' | 'list' | 'map' | 'set';
      size: number;
      children: ValueNode[];
      /** Children beyond {@link MAX_CHILDREN}, not listed. */
      more: number;
    };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `parent.key`, `parent[3]`, `parent["odd key"]`; the root is the empty path. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (IDENTIFIER.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** A number as ckpt shows it: `-0`, `NaN` and `Infinity` spelled out, BigInts with `n`. */
export function showNumber(v: number | bigint): string {
  if (typeof v === 'bigint') return `${v}n`;
  return Object.is(v, -0) ? '-0' : String(v);
}

/** Statistics of a numeric array (one pass). */
export function arrayStats(values: ArrayLike<number | bigint>, dtype: string): ArrayStats {
  const n = values.length;
  const first = Array.from({ length: Math.min(n, FIRST_VALUES) }, (_, i) => showNumber(values[i]!));
  if (n > 0 && typeof values[0] === 'bigint') {
    const big = values as ArrayLike<bigint>;
    let min = big[0]!;
    let max = big[0]!;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = big[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += Number(v);
    }
    return { dtype, length: n, min: String(min), max: String(max), mean: sum / n, nan: 0, inf: 0, first };
  }
  const nums = values as ArrayLike<number>;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let finite = 0;
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < n; i++) {
    const v = nums[i]!;
    if (v - v === 0) {
      if (v < min || (v === 0 && min === 0 && Object.is(v, -0))) min = v;
      if (v > max || (v === 0 && max === 0 && Object.is(max, -0))) max = v;
      sum += v;
      finite++;
    } else if (Number.isNaN(v)) nan++;
    else inf++;
  }
  return {
    dtype,
    length: n,
    min: finite > 0 ? min : null,
    max: finite > 0 ? max : null,
    mean: finite > 0 ? sum / finite : null,
    nan,
    inf,
    first,
  };
}

/** A JavaScript Array whose every element is a number (and not empty): summarized as an array. */
function isNumberList(value: unknown[]): value is number[] {
  return value.length > 0 && value.every((v) => typeof v === 'number');
}

/** The summary of a decoded value (as `readValue` returns it), `path` naming it. */
export function summarize(value: unknown, path = ''): ValueNode {
  if (types.isTypedArray(value) && !Buffer.isBuffer(value)) {
    return {
      path,
      kind: 'array',
      stats: arrayStats(value as unknown as ArrayLike<number>, value.constructor.name),
    };
  }
  if (Buffer.isBuffer(value) || types.isArrayBuffer(value) || types.isDataView(value)) {
    const bytes = ArrayBuffer.isView(value)
      ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
      : new Uint8Array(value as ArrayBuffer);
    const type = value instanceof Buffer ? 'Buffer' : (value as object).constructor.name;
    const first = Array.from(bytes.subarray(0, FIRST_VALUES), (b) => String(b));
    return { path, kind: 'bytes', type, length: bytes.byteLength, first };
  }
  if (Array.isArray(value)) {
    if (isNumberList(value)) return { path, kind: 'array', stats: arrayStats(value, 'Array') };
    return container(path, 'list', value.length, value.entries());
  }
  if (value instanceof Map) {
    const keys = [...value.keys()];
    const named = keys.every((k) => typeof k === 'string');
    const entries = named
      ? [...value.entries()]
      : [...value.entries()].map(([k, v], i) => [i, { key: k, value: v }] as const);
    return container(path, 'map', value.size, entries.values());
  }
  if (value instanceof Set) return container(path, 'set', value.size, [...value].entries());
  if (value instanceof Date) {
    return {
      path,
      kind: 'scalar',
      type: 'date',
      value: Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString(),
    };
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    return container(path, 'object', keys.length, Object.entries(value).values());
  }
  return { path, kind: 'scalar', type: value === null ? 'null' : typeof value, value: showScalar(value) };
}

function showScalar(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return showNumber(value);
  if (typeof value === 'string')
    return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
  return String(value);
}

function container(
  path: string,
  kind: 'object' | 'list' | 'map' | 'set',
  size: number,
  entries: Iterator<readonly [string | number, unknown]>,
): ValueNode {
  const children: ValueNode[] = [];
  for (let r = entries.next(); !r.done && children.length < MAX_CHILDREN; r = entries.next()) {
    const [key, child] = r.value;
    children.push(summarize(child, childPath(path, key)));
  }
  return { path, kind, size, children, more: Math.max(0, size - children.length) };
}

/**
 * The part of `value` at `path` (`field`, `model.weights[3]`, `cfg["odd key"]`; a Map's string
 * keys like object keys). Throws {@link UsageError} naming the first step that does not exist.
 */
export function select(value: unknown, path: string): unknown {
  let at = value;
  let walked = '';
  for (const key of parsePath(path)) {
    let next: unknown;
    if (at instanceof Map) next = at.get(key);
    else if (Array.isArray(at) || ArrayBuffer.isView(at))
      next = typeof key === 'number' ? (at as unknown as unknown[])[key] : undefined;
    else if (at !== null && typeof at === 'object' && typeof key === 'string' && Object.hasOwn(at, key)) {
      next = (at as Record<string, unknown>)[key];
    }
    const here = childPath(walked, key);
    if (next === undefined) {
      const keys =
        at instanceof Map
          ? [...at.keys()].map(String)
          : at !== null && typeof at === 'object' && !ArrayBuffer.isView(at)
            ? Object.keys(at)
            : [];
      throw new UsageError(`The value has nothing at \`${here}\`.`, {
        hint: keys.length
          ? `At \`${walked || '(the top)'}\` there is: ${keys.slice(0, 20).join(', ')}${keys.length > 20 ? ', …' : ''}.`
          : `\`${walked || '(the top)'}\` has no parts to select; \`ckpt inspect\` without a path shows the whole value.`,
      });
    }
    at = next;
    walked = here;
  }
  return at;
}

/** `a.b[3]["c d"]` → ['a', 'b', 3, 'c d']. */
export function parsePath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\s*(?:\.?([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/y;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    const m = re.exec(path);
    if (!m || (out.length === 0 && path[at] === '.')) {
      throw new UsageError(`Cannot read the value path \`${path}\` at character ${at + 1}.`, {
        hint: 'Write it as in JavaScript: `field`, `model.weights[3]`, `cfg["odd key"]`.',
      });
    }
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]!) as string);
    at = re.lastIndex;
  }
  return out;
}
