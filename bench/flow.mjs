// ckpt flow against Snakemake (docs/performance.md "Workflows"): planning time of a synthetic
// fan-out of N tasks then a merge, and the time of a no-op rerun after a completed run. Both
// tools get the same pipeline (a ckpt-flow.yaml and a Snakefile, input files present), are
// measured alternately in the same run, 3 rounds, medians.
//   npm run build && node bench/flow.mjs
// BENCH_FLOW_TASKS=10000,100000 sets the plan sizes, BENCH_FLOW_RERUN=200 the size of the run
// (0: no rerun rows), BENCH_ROUNDS=3 the rounds. Needs snakemake on PATH (Debian: apt-get install snakemake).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDir, median, now, printTable } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ckptBin = join(here, '..', 'bin', 'ckpt');
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const sizes = (process.env.BENCH_FLOW_TASKS ?? '10000,100000').split(',').map(Number);
const rerunSize = Number(process.env.BENCH_FLOW_RERUN ?? '200');
const base = benchDir('bench-flow-');
const rows = [];

const snakemake = spawnSync('snakemake', ['--version'], { encoding: 'utf8' });
if (snakemake.status !== 0) {
  console.error('bench/flow.mjs needs snakemake on PATH (Debian: apt-get install snakemake).');
  process.exit(2);
}
const snakemakeVersion = snakemake.stdout.trim();
console.log(
  `ckpt flow vs Snakemake ${snakemakeVersion}: plan of ${sizes.join(', ')} tasks, no-op rerun of ${rerunSize}, ${rounds} alternating rounds, in ${base}`,
);

/**
 * The pipeline of `n` tasks: `gen` copies data/{a}_{b}.txt to parts/{a}_{b}.txt for every (a, b)
 * of a for_each product (100 values of a, n/100 of b), then `merge` concatenates the parts.
 * The same as a Snakefile, with `expand()` over the same ranges.
 */
function writePipeline(dir, n) {
  const as = Math.min(100, n);
  const bs = Math.ceil(n / as);
  mkdirSync(join(dir, 'data'), { recursive: true });
  for (let a = 0; a < as; a++)
    for (let b = 0; b < bs; b++) writeFileSync(join(dir, 'data', `${a}_${b}.txt`), `value ${a} ${b}\n`);
  const range = (k) => Array.from({ length: k }, (_, i) => i).join(', ');
  writeFileSync(
    join(dir, 'ckpt-flow.yaml'),
    `version: 1
steps:
  gen:
    for_each: { a: [${range(as)}], b: [${range(bs)}] }
    run: cp data/{a}_{b}.txt parts/{a}_{b}.txt
    inputs: ["data/{a}_{b}.txt"]
    outputs: ["parts/{a}_{b}.txt"]
  merge:
    needs: [gen]
    run: find parts -name '*.txt' | sort | xargs cat > total.txt
    outputs: [total.txt]
`,
  );
  writeFileSync(
    join(dir, 'Snakefile'),
    `rule all:
    input: "total.txt"

rule merge:
    input: expand("parts/{a}_{b}.txt", a=range(${as}), b=range(${bs}))
    output: "total.txt"
    shell: "find parts -name '*.txt' | sort | xargs cat > total.txt"

rule gen:
    input: "data/{a}_{b}.txt"
    output: "parts/{a}_{b}.txt"
    shell: "cp {input} {output}"
`,
  );
  return as * bs;
}

/** Runs a command in `dir` to its end (output captured, as a terminal would take it); its time. */
function timed(file, args, dir) {
  const t = now();
  const done = spawnSync(file, args, { cwd: dir, maxBuffer: 1 << 30, encoding: 'utf8' });
  const ms = now() - t;
  if (done.status !== 0) {
    throw new Error(
      `${file} ${args.join(' ')} failed in ${dir} (${done.status}):\n${done.stderr.slice(-2000)}`,
    );
  }
  return { ms, stdout: done.stdout };
}
const ckpt = (args, dir) => timed(process.execPath, [ckptBin, ...args], dir);
const smk = (args, dir) => timed('snakemake', args, dir);

/** Runs every side once per round, in an order that rotates each round; returns medians by name. */
function sideBySide(sides) {
  const names = Object.keys(sides);
  const times = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const name of names.map((_, i) => names[(i + r) % names.length])) times[name].push(sides[name]());
  }
  return Object.fromEntries(names.map((k) => [k, median(times[k])]));
}

function row(what, ckptMs, otherName, otherMs, goal) {
  const x = ckptMs / otherMs;
  const line = [
    what,
    `${ckptMs.toFixed(0)} ms`,
    `${otherName}: ${otherMs.toFixed(0)} ms`,
    x.toFixed(3),
    goal ? goal.text : '',
    goal ? (goal.met(ckptMs, x) ? 'yes' : '**no**') : '',
  ];
  rows.push(line);
  console.log(`| ${line.join(' | ')} |`);
}

const sleep = (ms) => execFileSync('sleep', [String(ms / 1000)]);

// 1. A no-op rerun after a completed run: `ckpt flow run` vs `snakemake`, and their plans.
if (rerunSize > 0) {
  const ckptDir = join(base, 'rerun-ckpt');
  const smkDir = join(base, 'rerun-snakemake');
  const tasks = writePipeline(ckptDir, rerunSize) + 1;
  writePipeline(smkDir, rerunSize);
  const ranCkpt = ckpt(['flow', 'run', '--jobs', '2'], ckptDir);
  const ranSmk = smk(['--cores', '2'], smkDir);
  console.log(
    `first run of ${tasks} tasks: ckpt flow run --jobs 2 ${(ranCkpt.ms / 1000).toFixed(1)} s, snakemake --cores 2 ${(ranSmk.ms / 1000).toFixed(1)} s`,
  );
  const rerun = sideBySide({
    'ckpt flow run': () => {
      const r = ckpt(['flow', 'run'], ckptDir);
      if (!r.stdout.includes(`0 ran, ${tasks} cached`))
        throw new Error(`not a no-op:\n${r.stdout.slice(-500)}`);
      return r.ms;
    },
    snakemake: () => {
      const r = smk(['--cores', '1'], smkDir);
      return r.ms;
    },
    'ckpt flow plan': () => ckpt(['flow', 'plan'], ckptDir).ms,
    'snakemake -n': () => smk(['-n', '--cores', '1'], smkDir).ms,
  });
  row(`no-op rerun, ${tasks} tasks`, rerun['ckpt flow run'], 'snakemake', rerun.snakemake);
  row(`plan after the run, ${tasks} tasks`, rerun['ckpt flow plan'], 'snakemake -n', rerun['snakemake -n']);
}
// 2. Planning: `ckpt flow plan` vs `snakemake -n` of the same pipeline, nothing run yet.
for (const n of sizes) {
  const dir = join(base, `plan-${n}`);
  const tasks = writePipeline(dir, n) + 1;
  // Files changed less than 2 s before they are hashed are rehashed next time (the racy rule).
  sleep(2500);
  // The first plan fills the hash cache, as any plan or run does; the "no hash cache" side
  // deletes it first.
  const first = ckpt(['flow', 'plan'], dir);
  if (!first.stdout.includes(`${tasks} of ${tasks} tasks would run.`)) {
    throw new Error(`ckpt flow plan did not plan ${tasks} tasks:\n${first.stdout.slice(-500)}`);
  }
  const plan = sideBySide({
    'ckpt flow plan': () => ckpt(['flow', 'plan'], dir).ms,
    'ckpt flow plan, no hash cache': () => {
      rmSync(join(dir, '.ckpt-flow', 'hash-cache.json'), { force: true });
      return ckpt(['flow', 'plan'], dir).ms;
    },
    'snakemake -n': () => smk(['-n', '--cores', '1'], dir).ms,
  });
  const goal = n >= 100_000 ? { text: '< 2 s and ≤ 0.1', met: (ms, x) => ms < 2000 && x <= 0.1 } : undefined;
  row(`plan, ${tasks} tasks`, plan['ckpt flow plan'], 'snakemake -n', plan['snakemake -n'], goal);
  row(
    `plan, ${tasks} tasks, no hash cache (every input read)`,
    plan['ckpt flow plan, no hash cache'],
    'snakemake -n',
    plan['snakemake -n'],
  );
  rmSync(dir, { recursive: true, force: true });
}

rmSync(base, { recursive: true, force: true });

printTable(
  `ckpt flow vs Snakemake ${snakemakeVersion} (medians of ${rounds} alternating rounds; ratio = ckpt / Snakemake)`,
  ['what', 'ckpt', 'Snakemake', 'ratio', 'goal', 'met'],
  rows,
);
