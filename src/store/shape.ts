/**
 * Checks of untrusted JSON values (a store's bytes are never trusted) that also give their type:
 * a check written once is both the TypeScript type of a record and its validation on read.
 * Objects are open: fields a check does not name are allowed (and not typed).
 */

/** Whether a value has type `T`. */
export type Check<T> = (value: unknown) => value is T;

/** A field that may be missing (JSON drops `undefined`): present, it must pass its check. */
export interface Optional<T> {
  optional: Check<T>;
}

/** The fields of an {@link objectOf} check. */
export type Shape = Record<string, Check<unknown> | Optional<unknown>>;

/** The type a {@link Shape} checks. */
export type ShapeType<S extends Shape> = Flat<
  {
    -readonly [K in keyof S as S[K] extends Check<unknown> ? K : never]: S[K] extends Check<infer T>
      ? T
      : never;
  } & {
    -readonly [K in keyof S as S[K] extends Optional<unknown> ? K : never]?:
      | (S[K] extends Optional<infer T> ? T : never)
      | undefined;
  }
>;
type Flat<T> = { [K in keyof T]: T[K] };

/** A string. */
export const isString: Check<string> = (value): value is string => typeof value === 'string';
/** A finite number (JSON has no other). */
export const isNumber: Check<number> = (value): value is number =>
  typeof value === 'number' && Number.isFinite(value);
/** `true` or `false`. */
export const isBoolean: Check<boolean> = (value): value is boolean => typeof value === 'boolean';

/** `null`, or what `check` accepts. */
export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value): value is T | null => value === null || check(value);
}

/** A field that may be missing. */
export function optional<T>(check: Check<T>): Optional<T> {
  return { optional: check };
}

/** An array whose every item passes `check`. */
export function arrayOf<T>(check: Check<T>): Check<T[]> {
  return (value): value is T[] => Array.isArray(value) && value.every(check);
}

/** One of the given strings. */
export function oneOf<const T extends readonly string[]>(...values: T): Check<T[number]> {
  return (value): value is T[number] => typeof value === 'string' && values.includes(value);
}

/** What any of the checks accepts. */
export function anyOf<T extends readonly Check<unknown>[]>(
  ...checks: T
): Check<T[number] extends Check<infer U> ? U : never> {
  return (value): value is T[number] extends Check<infer U> ? U : never => checks.some((c) => c(value));
}

/** A plain object (not null, not an array) whose named fields pass their checks. */
export function objectOf<S extends Shape>(shape: S): Check<ShapeType<S>> {
  const fields = Object.entries(shape);
  return (value): value is ShapeType<S> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const record = value as Record<string, unknown>;
    return fields.every(([key, check]) => {
      const field = Object.hasOwn(record, key) ? record[key] : undefined;
      return typeof check === 'function' ? check(field) : field === undefined || check.optional(field);
    });
  };
}
