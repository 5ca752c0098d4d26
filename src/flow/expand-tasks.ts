import { posix } from 'node:path';
import { suggestSimilar } from '../suggest.js';
import { flowError, showValue } from './flow-errors.js';
import { compileTemplate, placeholders } from './template.js';
import type { FlowStep, Workflow } from './workflow.js';
import { isContainedPath } from './workflow-fields.js';

/** One task: a step with one combination of its `for_each` values, every template rendered. */
export interface FlowTask {
  /** `gen[k=1]`, or the step's name when it has no `for_each`: stable when values are reordered. */
  id: string;
  step: string;
  /** Position among the step's tasks. */
  index: number;
  vars: Record<string, string>;
  /** The rendered command, run by /bin/sh in the workflow's directory. */
  command: string;
  /** Rendered input paths or globs. */
  inputs: string[];
  /** Rendered, normalized output paths, relative to the workflow's directory. */
  outputs: string[];
  /** Rendered `checkpoint.capture` globs. */
  capture: string[];
}

/** A validated workflow and its tasks, steps in dependency order. */
export interface TaskGraph {
  workflow: Workflow;
  /** Step names, each after every step it needs. */
  stepOrder: string[];
  steps: Map<string, FlowStep>;
  /** Tasks of each step, in for_each order. */
  tasksOf: Map<string, FlowTask[]>;
  /** Every task, in dependency order. */
  tasks: FlowTask[];
}

/**
 * Checks the workflow as a whole and expands every step into its tasks. Throws
 * {@link FlowFileError} for an unknown or cyclic `needs`, a `{var}` no `for_each` defines, an
 * output outside the directory or written by two tasks, and an input another step writes that
 * is not among the step's (transitive) `needs`.
 */
export function buildTaskGraph(workflow: Workflow): TaskGraph {
  const file = workflow.file;
  const steps = new Map(workflow.steps.map((s) => [s.name, s]));
  const names = [...steps.keys()];
  for (const step of workflow.steps) {
    for (const [i, need] of step.needs.entries()) {
      if (need === step.name) {
        throw flowError({ file, step: step.name, field: `needs[${i}]` }, 'a step cannot need itself.');
      }
      if (!steps.has(need)) {
        const near = suggestSimilar(need, names);
        throw flowError(
          { file, step: step.name, field: `needs[${i}]` },
          `unknown step ${showValue(need)}.`,
          near ? `Did you mean \`${near}\`?` : `Steps in this file: ${names.join(', ')}.`,
        );
      }
    }
  }
  const stepOrder = orderSteps(workflow);
  const tasksOf = new Map<string, FlowTask[]>();
  for (const name of stepOrder) tasksOf.set(name, expandStep(steps.get(name)!, file));
  checkOutputs(workflow, stepOrder, tasksOf, steps);
  return { workflow, stepOrder, steps, tasksOf, tasks: stepOrder.flatMap((n) => tasksOf.get(n)!) };
}

/** Depth-first order of the steps; a cycle is reported as the path around it. */
function orderSteps(workflow: Workflow): string[] {
  const steps = new Map(workflow.steps.map((s) => [s.name, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw flowError(
        { file: workflow.file, step: name, field: 'needs' },
        `the steps need each other in a cycle: ${cycle.join(' → ')}.`,
        'Remove one of these `needs` so that the steps form a DAG.',
      );
    }
    state.set(name, 'visiting');
    for (const need of steps.get(name)!.needs) visit(need, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const step of workflow.steps) visit(step.name, []);
  return order;
}

function expandStep(step: FlowStep, file: string): FlowTask[] {
  const defined = new Set(step.forEach.map((v) => v.name));
  const templates: [string, string][] = [
    ['run', step.run],
    ...step.inputs.map((t, i): [string, string] => [`inputs[${i}]`, t]),
    ...step.outputs.map((t, i): [string, string] => [`outputs[${i}]`, t]),
    ...(step.checkpoint?.capture ?? []).map((t, i): [string, string] => [`checkpoint.capture[${i}]`, t]),
  ];
  for (const [field, text] of templates) {
    for (const name of placeholders(text)) {
      if (defined.has(name)) continue;
      throw flowError(
        { file, step: step.name, field },
        `\`{${name}}\` is not a \`for_each\` variable of this step.`,
        defined.size > 0
          ? `This step's variables: ${[...defined].map((v) => `{${v}}`).join(', ')}. Write \`{{${name}}}\` for a literal \`{${name}}\`.`
          : `Add \`for_each: { ${name}: [...] }\` to the step, or write \`{{${name}}}\` for a literal \`{${name}}\`.`,
      );
    }
  }
  const fanOut = step.forEach.length > 0;
  for (const [i, glob] of (step.checkpoint?.capture ?? []).entries()) {
    if (fanOut && !step.forEach.some((v) => placeholders(glob).includes(v.name))) {
      throw flowError(
        { file, step: step.name, field: `checkpoint.capture[${i}]` },
        `${showValue(glob)} is the same for every task, so the tasks would capture each other's files.`,
        `Put a \`for_each\` variable in it, e.g. \`state_{${step.forEach[0]!.name}}.*\`.`,
      );
    }
  }
  const run = compileTemplate(step.run);
  const inputs = step.inputs.map(compileTemplate);
  const outputs = step.outputs.map(compileTemplate);
  const capture = (step.checkpoint?.capture ?? []).map(compileTemplate);
  return combinations(step).map((vars, index) => {
    const label = Object.entries(vars)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return {
      id: fanOut ? `${step.name}[${label}]` : step.name,
      step: step.name,
      index,
      vars,
      command: run(vars),
      inputs: inputs.map((render) => render(vars)),
      outputs: outputs.map((render, i) => normalizeOutput(render(vars), file, step.name, i)),
      capture: capture.map((render) => render(vars)),
    };
  });
}

/** Every combination of the step's for_each values, first variable outermost. */
function combinations(step: FlowStep): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const { name, values } of step.forEach) {
    out = out.flatMap((vars) => values.map((value) => ({ ...vars, [name]: value })));
  }
  return out;
}

function normalizeOutput(path: string, file: string, step: string, i: number): string {
  const normal = posix.normalize(path);
  if (!isContainedPath(normal) || normal === '.' || normal.endsWith('/')) {
    throw flowError(
      { file, step, field: `outputs[${i}]` },
      `${showValue(path)} is not a file inside the workflow's directory.`,
      'Name output files by relative paths below the directory of the workflow file.',
    );
  }
  if (/[*?[\]]/.test(normal)) {
    throw flowError(
      { file, step, field: `outputs[${i}]` },
      `${showValue(path)} is a glob; outputs must be file names.`,
      'List each output file; use `for_each` variables for one file per task.',
    );
  }
  return normal;
}

function checkOutputs(
  workflow: Workflow,
  order: string[],
  tasksOf: Map<string, FlowTask[]>,
  steps: Map<string, FlowStep>,
): void {
  const file = workflow.file;
  const owner = new Map<string, FlowTask>();
  for (const name of order) {
    for (const task of tasksOf.get(name)!) {
      for (const [i, out] of task.outputs.entries()) {
        const other = owner.get(out);
        if (other) {
          const same = other.step === task.step;
          throw flowError(
            { file, step: task.step, field: `outputs[${i}]` },
            `${showValue(out)} is written by both ${other.id} and ${task.id}.`,
            same
              ? `Put a \`for_each\` variable in the name so each task writes its own file, e.g. \`${out}\` → \`…{${steps.get(task.step)!.forEach[0]?.name ?? 'var'}}…\`.`
              : 'Give each output file one writing step.',
          );
        }
        owner.set(out, task);
      }
    }
  }
  const ancestors = new Map<string, Set<string>>();
  for (const name of order) {
    const set = new Set<string>();
    for (const need of steps.get(name)!.needs) {
      set.add(need);
      for (const a of ancestors.get(need)!) set.add(a);
    }
    ancestors.set(name, set);
  }
  for (const name of order) {
    for (const task of tasksOf.get(name)!) {
      for (const [i, input] of task.inputs.entries()) {
        const writer = owner.get(posix.normalize(input));
        if (!writer || writer.step === name || ancestors.get(name)!.has(writer.step)) continue;
        throw flowError(
          { file, step: name, field: `inputs[${i}]` },
          `${showValue(input)} is an output of step \`${writer.step}\`, which this step does not need.`,
          `Add \`${writer.step}\` to this step's \`needs\`, so it runs after it.`,
        );
      }
    }
  }
}
