import { types } from 'node:util';
import { childPath, showNumber } from './summarize.js';

/** How a numeric array changed from one checkpoint to the next. */
export interface ArrayChange {
  path: string;
  kind: 'array';
  dtype: string;
  lengths: [number, number];
  /** Elements compared (the shorter length) and how many of them differ (NaN equals NaN; -0 is not 0). */
  compared: number;
  changed: number;
  /** The largest |new - old| over elements finite on both sides, and its index; null if none. */
  maxAbs: number | null;
  maxAbsAt: number | null;
  /** The largest |new - old| / |old| over those with old ≠ 0, and its index; null if none. */
  maxRel: number | null;
  maxRelAt: number | null;
  /** The first index that differs. */
  firstAt: number | null;
  /** Changed elements that are NaN or infinite on one side or both (not in maxAbs or maxRel). */
  nonFinite: number;
}

/** One difference between two values. */
export type ValueChange =
  | ArrayChange
  | { path: string; kind: 'scalar'; old: string; new: string }
  | { path: string; kind: 'type'; old: string; new: string }
  | { path: string; kind: 'added' | 'removed'; what: string };

/** What changed between two decoded values, and how many numeric arrays did not. */
export interface ValueDiff {
  changes: ValueChange[];
  unchangedArrays: number;
}

/**
 * Compares two decoded values part by part: per numeric array, the changed elements and the
 * largest absolute and relative change (with where); per scalar, old → new; parts added,
 * removed or of another type. Objects and Maps are matched by key, Arrays by index.
 */
export function diffValues(a: unknown, b: unknown): ValueDiff {
  const out: ValueDiff = { changes: [], unchangedArrays: 0 };
  walk(a, b, '', out);
  return out;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (types.isTypedArray(v)) return Buffer.isBuffer(v) ? 'Buffer' : v.constructor.name;
  if (Array.isArray(v)) return 'Array';
  if (v instanceof Map) return 'Map';
  if (v instanceof Set) return 'Set';
  if (v instanceof Date) return 'Date';
  if (types.isArrayBuffer(v)) return 'ArrayBuffer';
  if (types.isDataView(v)) return 'DataView';
  return typeof v === 'object' ? 'object' : typeof v;
}

function isNumeric(v: unknown): v is ArrayLike<number | bigint> {
  return (
    (types.isTypedArray(v) && !Buffer.isBuffer(v)) ||
    (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number'))
  );
}

function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint') return showNumber(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
  if (v === null || typeof v !== 'object') return String(v);
  const k = kindOf(v);
  const size = ArrayBuffer.isView(v)
    ? ((v as unknown as { length?: number }).length ?? v.byteLength)
    : Array.isArray(v)
      ? v.length
      : v instanceof Map || v instanceof Set
        ? v.size
        : types.isArrayBuffer(v)
          ? v.byteLength
          : Object.keys(v).length;
  return `${k}(${size})`;
}

function walk(a: unknown, b: unknown, path: string, out: ValueDiff): void {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka !== kb && !(ka === 'Array' && kb === 'Array')) {
    out.changes.push({ path: path || '(the value)', kind: 'type', old: show(a), new: show(b) });
    return;
  }
  if (isNumeric(a) && isNumeric(b)) {
    const change = compareArrays(a, b, path, ka);
    if (change) out.changes.push(change);
    else out.unchangedArrays++;
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) pair(i < a.length, a[i], i < b.length, b[i], childPath(path, i), out);
    return;
  }
  if (a instanceof Map && b instanceof Map) {
    for (const [k, v] of a) pair(true, v, b.has(k), b.get(k), childPath(path, String(k)), out);
    for (const [k, v] of b) if (!a.has(k)) pair(false, undefined, true, v, childPath(path, String(k)), out);
    return;
  }
  if (a instanceof Set && b instanceof Set) {
    walk([...a], [...b], path, out);
    return;
  }
  if (ka === 'object') {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of Object.keys(ao)) pair(true, ao[k], Object.hasOwn(bo, k), bo[k], childPath(path, k), out);
    for (const k of Object.keys(bo))
      if (!Object.hasOwn(ao, k)) pair(false, undefined, true, bo[k], childPath(path, k), out);
    return;
  }
  if (ArrayBuffer.isView(a) || types.isArrayBuffer(a)) {
    const x = bytesOf(a);
    const y = bytesOf(b);
    if (!Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(y)) {
      out.changes.push({
        path: path || '(the value)',
        kind: 'scalar',
        old: show(a),
        new: `${show(b)}, other bytes`,
      });
    }
    return;
  }
  const sa = show(a);
  const sb = show(b);
  if (sa !== sb) out.changes.push({ path: path || '(the value)', kind: 'scalar', old: sa, new: sb });
}

function bytesOf(v: unknown): Uint8Array {
  return ArrayBuffer.isView(v)
    ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
    : new Uint8Array(v as ArrayBuffer);
}

function pair(hasA: boolean, a: unknown, hasB: boolean, b: unknown, path: string, out: ValueDiff): void {
  if (hasA && hasB) walk(a, b, path, out);
  else if (hasA) out.changes.push({ path, kind: 'removed', what: show(a) });
  else out.changes.push({ path, kind: 'added', what: show(b) });
}

function compareArrays(
  a: ArrayLike<number | bigint>,
  b: ArrayLike<number | bigint>,
  path: string,
  dtype: string,
): ArrayChange | undefined {
  const compared = Math.min(a.length, b.length);
  let changed = 0;
  let firstAt: number | null = null;
  let maxAbs = -1;
  let maxAbsAt: number | null = null;
  let maxRel = -1;
  let maxRelAt: number | null = null;
  let nonFinite = 0;
  for (let i = 0; i < compared; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Object.is(x, y) || (typeof x === 'bigint' && x === y)) continue;
    changed++;
    firstAt ??= i;
    const xn = Number(x);
    const yn = Number(y);
    if (!Number.isFinite(xn) || !Number.isFinite(yn)) {
      nonFinite++;
      continue;
    }
    // 64-bit integers are subtracted exactly: as doubles, 2^53 + 1 and 2^53 differ by 0.
    const abs =
      typeof x === 'bigint' && typeof y === 'bigint' ? Number(y > x ? y - x : x - y) : Math.abs(yn - xn);
    if (abs > maxAbs) {
      maxAbs = abs;
      maxAbsAt = i;
    }
    if (xn !== 0) {
      // As a ratio, which does not overflow where the difference does (1e308 → -1e308: 2).
      const rel = Number.isFinite(abs) ? abs / Math.abs(xn) : Math.abs(yn / xn - 1);
      if (rel > maxRel) {
        maxRel = rel;
        maxRelAt = i;
      }
    }
  }
  if (changed === 0 && a.length === b.length) return undefined;
  return {
    path: path || '(the value)',
    kind: 'array',
    dtype,
    lengths: [a.length, b.length],
    compared,
    changed,
    maxAbs: maxAbsAt === null ? null : maxAbs,
    maxAbsAt,
    maxRel: maxRelAt === null ? null : maxRel,
    maxRelAt,
    firstAt,
    nonFinite,
  };
}
