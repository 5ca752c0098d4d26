import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { suggestSimilar } from '../suggest.js';
import { parseDuration } from '../supervisor/index.js';
import { describeType, type FlowPlace, flowError, showValue } from './flow-errors.js';
import { SLURM_OPTIONS, SLURM_RESERVED } from './slurm-options.js';
import {
  type CheckpointSpec,
  DEFAULT_FLOW_DIR,
  DEFAULT_RETRIES,
  EXECUTORS,
  type Executor,
  type FlowStep,
  type ForEachVar,
  type Workflow,
} from './workflow.js';

/**
 * The workflow file format, version 1 (docs/flow.md):
 *
 *   version: 1                         # required
 *   store: DIR                         # optional; default .ckpt-flow next to the file
 *   defaults: { executor, retries, slurm }
 *   steps:
 *     NAME: { run, needs, inputs, outputs, env, executor, slurm, retries, for_each, checkpoint }
 *
 * Only `run` is required in a step. Nothing in the file is evaluated: it is data. Every problem
 * is a {@link FlowFileError} naming the step and the field.
 */
const TOP_FIELDS = ['version', 'store', 'defaults', 'steps'];
const DEFAULT_FIELDS = ['executor', 'retries', 'slurm'];
const STEP_FIELDS = [
  'run',
  'needs',
  'inputs',
  'outputs',
  'env',
  'executor',
  'slurm',
  'retries',
  'for_each',
  'checkpoint',
];
const CHECKPOINT_FIELDS = ['every', 'capture', 'app'];
const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The apps `checkpoint.app` accepts (those of `ckpt run --app`). */
const APP_NAMES = ['gromacs', 'lammps', 'openfoam', 'pytorch', 'generic'];

type Map = Record<string, unknown>;

/** Parses and checks the fields of a workflow file's text. Graph checks are {@link checkGraph}'s. */
export function parseWorkflowText(text: string, file: string): Workflow {
  const path = resolve(file);
  const top: FlowPlace = { file };
  const doc = parseDocument(text, { uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const line = text.split('\n')[(first.linePos?.[0].line ?? 1) - 1] ?? '';
    throw flowError(
      top,
      `not valid YAML: ${first.message.split('\n')[0]}`,
      /[[{].*\{[A-Za-z_]/.test(line)
        ? 'Inside `[ ]` or `{ }`, quote a value that holds a `{var}`: `outputs: ["parts/{k}.txt"]` (or put one item per line: `- parts/{k}.txt`).'
        : 'Fix the YAML syntax at that line.',
    );
  }
  const raw: unknown = doc.toJS();
  const root = asMap(raw, top, 'the workflow file', 'Start the file with `version: 1` and a `steps:` map.');
  checkFields(root, TOP_FIELDS, top, 'top-level field');
  if (root.version !== 1) {
    throw flowError(
      { file, field: 'version' },
      `expected \`1\`, got ${showValue(root.version)}.`,
      'Start the file with `version: 1` (the only version this ckpt reads).',
    );
  }
  const dir = dirname(path);
  const store = root.store;
  if (store !== undefined && (typeof store !== 'string' || store === '')) {
    throw flowError({ file, field: 'store' }, `expected a directory path, got ${describeType(store)}.`);
  }
  const defaults = asMap(root.defaults ?? {}, { file, field: 'defaults' }, 'defaults');
  checkFields(defaults, DEFAULT_FIELDS, { file, field: 'defaults' }, 'field of `defaults`');
  const baseExecutor = parseExecutor(defaults.executor, { file, field: 'defaults.executor' }) ?? 'local';
  const baseRetries = parseRetries(defaults.retries, { file, field: 'defaults.retries' }) ?? DEFAULT_RETRIES;
  const baseSlurm = parseSlurm(defaults.slurm, { file, field: 'defaults.slurm' });
  if (root.steps === undefined) {
    throw flowError({ file, field: 'steps' }, 'missing.', 'Add a `steps:` map with at least one step.');
  }
  const stepsMap = asMap(root.steps, { file, field: 'steps' }, 'steps');
  const names = Object.keys(stepsMap);
  if (names.length === 0) throw flowError({ file, field: 'steps' }, 'no steps.', 'Add at least one step.');
  const steps = names.map((name) =>
    parseStep(name, stepsMap[name], file, { executor: baseExecutor, retries: baseRetries, slurm: baseSlurm }),
  );
  const flowDir = resolve(dir, typeof store === 'string' ? store : DEFAULT_FLOW_DIR);
  return { file: path, dir, flowDir, steps };
}

interface StepDefaults {
  executor: Executor;
  retries: number;
  slurm: Record<string, string>;
}

function parseStep(name: string, value: unknown, file: string, defaults: StepDefaults): FlowStep {
  const at = (field?: string): FlowPlace => ({ file, step: name, field });
  if (!STEP_NAME.test(name)) {
    throw flowError(
      at(),
      'a step name must start with a letter or `_` and hold only letters, digits, `_` and `-`.',
    );
  }
  const step = asMap(value, at(), 'a step', 'Give the step a map with at least `run:`.');
  checkFields(step, STEP_FIELDS, at(), 'field');
  if (typeof step.run !== 'string' || step.run.trim() === '') {
    throw flowError(
      at('run'),
      step.run === undefined ? 'missing.' : `expected a shell command, got ${describeType(step.run)}.`,
      'Every step needs `run:` with the command to run (a string, run by /bin/sh).',
    );
  }
  const slurm = { ...defaults.slurm, ...parseSlurm(step.slurm, at('slurm')) };
  return {
    name,
    run: step.run,
    needs: stringList(step.needs, at('needs'), 'step names'),
    inputs: stringList(step.inputs, at('inputs'), 'paths or globs'),
    outputs: stringList(step.outputs, at('outputs'), 'paths'),
    env: parseEnv(step.env, at('env')),
    executor: parseExecutor(step.executor, at('executor')) ?? defaults.executor,
    slurm,
    retries: parseRetries(step.retries, at('retries')) ?? defaults.retries,
    forEach: parseForEach(step.for_each, at('for_each')),
    checkpoint: parseCheckpoint(step.checkpoint, at('checkpoint')),
  };
}

function asMap(value: unknown, place: FlowPlace, what: string, hint?: string): Map {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw flowError(place, `expected ${what} to be a map, got ${describeType(value)}.`, hint);
  }
  return value as Map;
}

function checkFields(map: Map, known: readonly string[], place: FlowPlace, what: string): void {
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

function stringList(value: unknown, place: FlowPlace, what: string): string[] {
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

function parseEnv(value: unknown, place: FlowPlace): string[] {
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

function parseExecutor(value: unknown, place: FlowPlace): Executor | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (EXECUTORS as readonly string[]).includes(value)) return value as Executor;
  throw flowError(place, `expected \`local\` or \`slurm\`, got ${showValue(value)}.`);
}

function parseRetries(value: unknown, place: FlowPlace): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const hint =
    typeof value === 'object' && value !== null
      ? 'Give the number of retries of a failed task (`retries: 2`); retries by failure class are not supported yet.'
      : 'Give the number of retries of a failed task, e.g. `retries: 2`.';
  throw flowError(place, `expected a non-negative integer, got ${showValue(value)}.`, hint);
}

function parseSlurm(value: unknown, place: FlowPlace): Record<string, string> {
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

function parseForEach(value: unknown, place: FlowPlace): ForEachVar[] {
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

function parseCheckpoint(value: unknown, place: FlowPlace): CheckpointSpec | undefined {
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
