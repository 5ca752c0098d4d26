import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { describeType, type FlowPlace, flowError, showValue } from './flow-errors.js';
import {
  DEFAULT_FLOW_DIR,
  DEFAULT_RETRIES,
  type Executor,
  type FlowStep,
  type Workflow,
} from './workflow.js';
import {
  asMap,
  checkFields,
  parseCheckpoint,
  parseEnv,
  parseExecutor,
  parseForEach,
  parseRetries,
  parseSlurm,
  stringList,
} from './workflow-fields.js';

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
const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

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
