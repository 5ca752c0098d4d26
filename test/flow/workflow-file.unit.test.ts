import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { buildTaskGraph } from '../../src/flow/expand-tasks.js';
import { FlowFileError } from '../../src/flow/flow-errors.js';
import { renderGraph } from '../../src/flow/graph-text.js';
import { parseWorkflowText } from '../../src/flow/parse-workflow.js';
import { placeholders, renderTemplate } from '../../src/flow/template.js';

const load = (text: string) => buildTaskGraph(parseWorkflowText(text, '/w/ckpt-flow.yaml'));

/** The error a bad file gets: a usage error (exit 2) whose message and hint are returned. */
function failure(text: string): { message: string; hint: string } {
  try {
    load(text);
  } catch (error) {
    expect(error).toBeInstanceOf(FlowFileError);
    expect(error).toBeInstanceOf(UsageError);
    const e = error as FlowFileError;
    return { message: e.message, hint: e.hint ?? '' };
  }
  throw new Error('the workflow was accepted');
}

const GOOD = `
version: 1
defaults: { executor: local, retries: 1 }
steps:
  gen:
    for_each: { k: [1, 2, 3] }
    run: python3 gen.py {k} > parts/{k}.txt
    inputs: [gen.py]
    outputs: ['parts/{k}.txt']
  merge:
    needs: [gen]
    run: cat parts/*.txt | awk '{print $1}' > total.txt
    outputs: [total.txt]
    env: [MERGE_MODE]
    executor: slurm
    slurm: { time: "1:00:00", cpus-per-task: 2 }
    retries: 2
`;

describe('the workflow file', () => {
  it('expands a fan-out into one task per value, with defaults applied', () => {
    const graph = load(GOOD);
    expect(graph.stepOrder).toEqual(['gen', 'merge']);
    expect(graph.tasks.map((t) => t.id)).toEqual(['gen[k=1]', 'gen[k=2]', 'gen[k=3]', 'merge']);
    expect(graph.tasks[1]!.command).toBe('python3 gen.py 2 > parts/2.txt');
    expect(graph.tasks[1]!.outputs).toEqual(['parts/2.txt']);
    expect(graph.tasks[3]!.command).toContain("awk '{print $1}'");
    expect(graph.steps.get('gen')!.retries).toBe(1);
    expect(graph.steps.get('merge')!.slurm).toEqual({ time: '1:00:00', 'cpus-per-task': '2' });
    expect(graph.workflow.flowDir).toBe('/w/.ckpt-flow');
  });

  it('takes the cartesian product of several for_each variables', () => {
    const graph = load(`version: 1
steps:
  s:
    for_each: { a: [x, y], b: [1, 2] }
    run: echo {a}{b} > o_{a}_{b}
    outputs: ['o_{a}_{b}']
`);
    expect(graph.tasks.map((t) => t.id)).toEqual(['s[a=x,b=1]', 's[a=x,b=2]', 's[a=y,b=1]', 's[a=y,b=2]']);
  });

  it('renders DOT and Mermaid', () => {
    const graph = load(GOOD);
    expect(renderGraph(graph, 'dot')).toContain('s0 -> s1;');
    expect(renderGraph(graph, 'dot')).toContain('"gen (3 tasks)"');
    expect(renderGraph(graph, 'mermaid')).toContain('s0 --> s1');
  });

  it('leaves shell braces alone and reads {{ }} as literal braces', () => {
    expect(placeholders('echo ${HOME} {a,b} {1..3} { x; } {k} {{lit}}')).toEqual(['k']);
    expect(renderTemplate('{k}-{{k}}-${k}', { k: '7' })).toBe('7-{k}-${k}');
  });
});

describe('a bad workflow file gets an error naming the step, the field, the value and the fix', () => {
  const cases: [string, string, RegExp[], RegExp?][] = [
    [
      'a cycle',
      `version: 1
steps:
  a: { run: x, needs: [c] }
  b: { run: x, needs: [a] }
  c: { run: x, needs: [b] }`,
      [/field `needs`/, /cycle: a → c → b → a|cycle: .*→.*→.*→/],
      /Remove one/,
    ],
    [
      'an unknown need',
      `version: 1
steps:
  gen: { run: x }
  merge: { run: x, needs: [gne] }`,
      [/step `merge`/, /field `needs\[0\]`/, /unknown step `gne`/],
      /Did you mean `gen`/,
    ],
    [
      'a {var} with no for_each',
      `version: 1
steps:
  gen: { run: 'echo {k} > out', outputs: [out] }`,
      [/step `gen`/, /field `run`/, /`\{k\}`/],
      /for_each: \{ k:/,
    ],
    [
      'a {var} of another name',
      `version: 1
steps:
  gen: { run: 'echo {k}', for_each: { k: [1] }, outputs: ['o_{kk}'] }`,
      [/step `gen`/, /field `outputs\[0\]`/, /`\{kk\}`/],
      /\{k\}/,
    ],
    [
      'an output every task writes',
      `version: 1
steps:
  gen: { run: 'echo {k} >> out', for_each: { k: [1, 2] }, outputs: [out] }`,
      [/step `gen`/, /field `outputs\[0\]`/, /`out` is written by both gen\[k=1\] and gen\[k=2\]/],
      /for_each/,
    ],
    [
      'an output two steps write',
      `version: 1
steps:
  a: { run: x, outputs: [o.txt] }
  b: { run: x, outputs: [./o.txt] }`,
      [/step `b`/, /`o.txt` is written by both a and b/],
    ],
    [
      'an unknown step field',
      `version: 1
steps:
  gen: { run: x, ouputs: [o] }`,
      [/step `gen`/, /field `ouputs`/, /unknown field/],
      /Did you mean `outputs`/,
    ],
    [
      'an unknown top-level field',
      `version: 1
stpes: {}`,
      [/field `stpes`/],
      /Did you mean `steps`/,
    ],
    [
      'a bad slurm option',
      `version: 1
steps:
  gen: { run: x, slurm: { cpus_per_task: 2 } }`,
      [/step `gen`/, /field `slurm.cpus_per_task`/, /unknown sbatch option/],
      /Did you mean `cpus-per-task`/,
    ],
    [
      'a slurm option ckpt sets itself',
      `version: 1
steps:
  gen: { run: x, slurm: { array: 0-3 } }`,
      [/step `gen`/, /field `slurm.array`/, /itself/],
    ],
    [
      'needs as a string of the wrong type',
      `version: 1
steps:
  gen: { run: x, needs: { a: 1 } }`,
      [/step `gen`/, /field `needs`/, /expected a list of step names, got a map/],
    ],
    [
      'retries not an integer',
      `version: 1
steps:
  gen: { run: x, retries: two }`,
      [/step `gen`/, /field `retries`/, /`two`/],
      /retries: 2/,
    ],
    [
      'a missing run',
      'version: 1\nsteps:\n  gen: { outputs: [o] }',
      [/step `gen`/, /field `run`/, /missing/],
    ],
    [
      'a bad executor',
      'version: 1\nsteps:\n  gen: { run: x, executor: lsf }',
      [/step `gen`/, /field `executor`/, /`lsf`/],
    ],
    [
      'an empty for_each list',
      'version: 1\nsteps:\n  gen: { run: x, for_each: { k: [] } }',
      [/step `gen`/, /field `for_each.k`/, /empty/],
    ],
    [
      'an output outside the directory',
      'version: 1\nsteps:\n  gen: { run: x, outputs: [../o] }',
      [/step `gen`/, /field `outputs\[0\]`/, /`..\/o`/],
    ],
    [
      'an input another step writes, without needs',
      'version: 1\nsteps:\n  a: { run: x, outputs: [o] }\n  b: { run: x, inputs: [o] }',
      [/step `b`/, /field `inputs\[0\]`/, /output of step `a`/],
      /Add `a` to this step's `needs`/,
    ],
    [
      'a bad checkpoint interval',
      'version: 1\nsteps:\n  gen: { run: x, checkpoint: { every: soon } }',
      [/step `gen`/, /field `checkpoint.every`/, /`soon`/],
    ],
    [
      'a fan-out checkpoint capturing one glob',
      'version: 1\nsteps:\n  gen: { run: x, for_each: { k: [1, 2] }, checkpoint: { capture: "state.*" } }',
      [/step `gen`/, /field `checkpoint.capture\[0\]`/, /capture each other/],
    ],
    ['a wrong version', 'version: 2\nsteps: {}', [/field `version`/, /got `2`/]],
    ['bad YAML', 'version: 1\nsteps: [a\n', [/not valid YAML/]],
    [
      'an unquoted {var} in a flow list',
      'version: 1\nsteps:\n  gen:\n    run: x\n    outputs: [parts/{k}.txt]\n',
      [/not valid YAML/],
      /quote a value that holds a `\{var\}`/,
    ],
    [
      'an env entry with a value',
      'version: 1\nsteps:\n  gen: { run: x, env: [MODE=fast] }',
      [/step `gen`/, /field `env\[0\]`/, /`MODE=fast`/],
    ],
  ];
  for (const [name, text, patterns, hint] of cases) {
    it(name, () => {
      const { message, hint: got } = failure(text);
      expect(message).toMatch(/^\/w\/ckpt-flow.yaml: /);
      for (const pattern of patterns) expect(message).toMatch(pattern);
      if (hint) expect(got).toMatch(hint);
    });
  }
});
