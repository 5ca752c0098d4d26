/**
 * The checks of a workflow file's field values (parse-workflow.ts reads the file with them):
 * each takes the parsed YAML value and the place it stands, and returns the typed value or throws
 * a FlowFileError naming the step, the field, the value and the fix.
 */
import { isAbsolute } from 'node:path';
import { APP_NAMES } from '../apps/names.js';
import { suggestSimilar } from '../suggest.js';
import { parseDuration } from '../supervisor/index.js';
import { describeType, type FlowPlace, flowError, showValue } from './flow-errors.js';
import { SLURM_OPTIONS, SLURM_RESERVED } from './slurm-options.js';
import { type CheckpointSpec, EXECUTORS, type Executor, type ForEachVar } from './workflow.js';

const CHECKPOINT_FIELDS = ['every', 'capture', 'app'];
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The apps `checkpoint.app` accepts (those of `ckpt run --app`). */

/** A YAML map as parsed. */
export type YamlMap = Record<string, unknown>;

/** `value` as a YAML map, or an error naming the place (`what` says what was expected). */
export function asMap(value: unknown, place: FlowPlace, what: string, hint?: string): YamlMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw flowError(place, `expected ${what} to be a map, got ${describeType(value)}.`, hint);
  }
  return value as YamlMap;
}

/** Every key of `map` is one of `known`; an unknown one is an error with "did you mean". */
export function checkFields(map: YamlMap, known: readonly string[], place: FlowPlace, what: string): void {
  for (const key of Object.keys(map)) {
    if (known.includes(key)) continue;
    const near = suggestSimilar(key, known);
    throw flowError(
      { ...place, field: place.field ? `${place.field}.${key}` : key },
      `unknown ${what} ${showValue(key)}.`,
      near ? `Did you mean \`${near}\`?` : `Known: ${known.join(', ')}.`,
    );
  }
}

/** A string or a list of strings (`what` names what they are); absent means none. */
export function stringList(value: unknown, place: FlowPlace, what: string): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list)) throw flowError(place, `expected a list of ${what}, got ${describeType(value)}.`);
  return list.map((item, i) => {
    if (typeof item !== 'string' || item === '') {
      throw flowError(
        { ...place, field: `${place.field}[${i}]` },
        `expected one of the ${what} as a string, got ${describeType(item)} ${showValue(item)}.`,
        'Quote it if YAML read it as something else (a number, `yes`…).',
      );
    }
    return item;
  });
}

/** `env:`: the names of the environment variables that enter the step's key. */
export function parseEnv(value: unknown, place: FlowPlace): string[] {
  const names = stringList(value, place, 'environment variable names');
  for (const [i, name] of names.entries()) {
    if (!ENV_NAME.test(name)) {
      throw flowError(
        { ...place, field: `${place.field}[${i}]` },
        `${showValue(name)} is not an environment variable name.`,
        'List the names only (MERGE_MODE), not values (MERGE_MODE=fast) or `$` references.',
      );
    }
  }
  return names;
}

/** `executor:`: `local` or `slurm`; undefined when absent (the default applies). */
export function parseExecutor(value: unknown, place: FlowPlace): Executor | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (EXECUTORS as readonly string[]).includes(value)) return value as Executor;
  throw flowError(place, `expected \`local\` or \`slurm\`, got ${showValue(value)}.`);
}

/** `retries:`: a count of further attempts after a failure; undefined when absent. */
export function parseRetries(value: unknown, place: FlowPlace): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const hint =
    typeof value === 'object' && value !== null
      ? 'Give the number of retries of a failed task (`retries: 2`); retries by failure class are not supported yet.'
      : 'Give the number of retries of a failed task, e.g. `retries: 2`.';
  throw flowError(place, `expected a non-negative integer, got ${showValue(value)}.`, hint);
}

/** `slurm:`: sbatch options by their long name, each checked against SLURM's list. */
export function parseSlurm(value: unknown, place: FlowPlace): Record<string, string> {
  if (value === undefined || value === null) return {};
  const map = asMap(value, place, '`slurm`', 'Give sbatch options as a map: `slurm: { time: "1:00:00" }`.');
  const out: Record<string, string> = {};
  for (const [key, option] of Object.entries(map)) {
    const field: FlowPlace = { ...place, field: `${place.field}.${key}` };
    if (SLURM_RESERVED.includes(key)) {
      throw flowError(field, `ckpt sets \`--${key}\` itself.`, 'Remove it from `slurm:`.');
    }
    if (!SLURM_OPTIONS.includes(key)) {
      const near =
        suggestSimilar(key, SLURM_OPTIONS) ?? suggestSimilar(key.replaceAll('_', '-'), SLURM_OPTIONS);
      throw flowError(
        field,
        `unknown sbatch option ${showValue(key)}.`,
        near
          ? `Did you mean \`${near}\`?`
          : `Use sbatch's long option names without \`--\` (${SLURM_OPTIONS.slice(0, 6).join(', ')}…).`,
      );
    }
    if (typeof option === 'boolean' && option) out[key] = '';
    else if (typeof option === 'string' || typeof option === 'number') out[key] = String(option);
    else throw flowError(field, `expected a string or a number, got ${describeType(option)}.`);
  }
  return out;
}

/** `for_each:`: the fan-out variables and their values, in order. */
export function parseForEach(value: unknown, place: FlowPlace): ForEachVar[] {
  if (value === undefined || value === null) return [];
  const map = asMap(value, place, '`for_each`', 'Write `for_each: { k: [1, 2, 3] }`.');
  return Object.entries(map).map(([name, list]) => {
    const field: FlowPlace = { ...place, field: `${place.field}.${name}` };
    if (!VAR_NAME.test(name)) {
      throw flowError(field, `${showValue(name)} is not a variable name.`, 'Use letters, digits and `_`.');
    }
    if (!Array.isArray(list) || list.length === 0) {
      throw flowError(
        field,
        Array.isArray(list) ? 'the list is empty.' : `expected a list of values, got ${describeType(list)}.`,
        `Write \`${name}: [1, 2, 3]\`.`,
      );
    }
    const values = list.map((item, i) => {
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean')
        return String(item);
      throw flowError(
        { ...field, field: `${field.field}[${i}]` },
        `expected a string or number, got ${describeType(item)}.`,
      );
    });
    const seen = new Set<string>();
    for (const v of values) {
      if (seen.has(v))
        throw flowError(field, `the value ${showValue(v)} is listed twice.`, 'List each value once.');
      seen.add(v);
    }
    return { name, values };
  });
}

/** `checkpoint:`: run the step under `ckpt run` (`every`, `capture`, `app`); undefined when absent. */
export function parseCheckpoint(value: unknown, place: FlowPlace): CheckpointSpec | undefined {
  if (value === undefined || value === null) return undefined;
  const map = asMap(value, place, '`checkpoint`', 'Write `checkpoint: { every: 10m, capture: "state.*" }`.');
  checkFields(map, CHECKPOINT_FIELDS, place, 'field of `checkpoint`');
  let every: string | undefined;
  if (map.every !== undefined) {
    if (typeof map.every !== 'string' && typeof map.every !== 'number') {
      throw flowError(
        { ...place, field: 'checkpoint.every' },
        `expected a duration, got ${describeType(map.every)}.`,
      );
    }
    every = String(map.every);
    try {
      parseDuration(every, 'checkpoint.every');
    } catch {
      throw flowError(
        { ...place, field: 'checkpoint.every' },
        `${showValue(every)} is not a duration.`,
        'Write it as `ckpt run --every` takes it: 90s, 10m, 1h30m.',
      );
    }
  }
  const capture = stringList(map.capture, { ...place, field: 'checkpoint.capture' }, 'globs');
  const app = map.app;
  if (app !== undefined && (typeof app !== 'string' || !APP_NAMES.includes(app))) {
    const near = typeof app === 'string' ? suggestSimilar(app, APP_NAMES) : undefined;
    throw flowError(
      { ...place, field: 'checkpoint.app' },
      `unknown app ${showValue(app)}.`,
      near ? `Did you mean \`${near}\`?` : `Use one of: ${APP_NAMES.join(', ')}.`,
    );
  }
  return { every, capture, app: typeof app === 'string' ? app : undefined };
}

/** Whether `p` is a usable relative output path (no `..` out of the directory, not absolute). */
export function isContainedPath(p: string): boolean {
  return !isAbsolute(p) && !p.split('/').includes('..');
}
