/**
 * The same fan-out pipeline as a ckpt-flow.yaml and as a Snakefile; each head is SIGKILLed
 * mid-run after some tasks finished, then restarted. The side-effect log (one line per finished
 * task command) shows which finished tasks each tool runs again. ckpt must run none again;
 * what Snakemake does is printed, not asserted beyond reaching the same result.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { cleanEnv, runCkpt } from '../helpers/cli.js';
import { flowRecords, startHead } from '../helpers/flow.js';
import { describeNeeds, SNAKEMAKE } from '../helpers/needs.js';
import { requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const tmp = useTempDirs('ckpt-flow-smk-');
const KS = [1, 2, 3, 4, 5, 6];
const TASK_SECONDS = 0.5;
const EXPECTED = KS.map((k) => `VALUE ${k}\n`).join('');

beforeAll(requireBuild);

/** data/{k}.txt → parts/{k}.txt (upper case) after a pause, then a line in log.txt; then a merge. */
function writePipeline(dir: string): void {
  mkdirSync(join(dir, 'data'), { recursive: true });
  for (const k of KS) writeFileSync(join(dir, 'data', `${k}.txt`), `value ${k}\n`);
  writeFileSync(
    join(dir, 'ckpt-flow.yaml'),
    `version: 1
steps:
  gen:
    for_each: { k: [${KS.join(', ')}] }
    run: sleep ${TASK_SECONDS} && tr a-z A-Z < data/{k}.txt > parts/{k}.txt && echo "gen[k={k}]" >> log.txt
    inputs: ["data/{k}.txt"]
    outputs: ["parts/{k}.txt"]
  merge:
    needs: [gen]
    run: cat ${KS.map((k) => `parts/${k}.txt`).join(' ')} > total.txt && echo merge >> log.txt
    outputs: [total.txt]
`,
  );
  writeFileSync(
    join(dir, 'Snakefile'),
    `KS = [${KS.join(', ')}]

rule all:
    input: "total.txt"

rule merge:
    input: expand("parts/{k}.txt", k=KS)
    output: "total.txt"
    shell: "cat {input} > total.txt && echo merge >> log.txt"

rule gen:
    input: "data/{k}.txt"
    output: "parts/{k}.txt"
    shell: "sleep ${TASK_SECONDS} && tr a-z A-Z < {input} > {output} && echo 'gen[k={wildcards.k}]' >> log.txt"
`,
  );
}

const logLines = (dir: string): string[] => {
  try {
    return readFileSync(join(dir, 'log.txt'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

/** The finished tasks that ran again: those in `before` that appear again in `after`. */
const rerunOf = (before: string[], after: string[]) => before.filter((t) => after.includes(t));

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('close', () => resolve());
  });
}

/** `snakemake --cores 1 ...args` in `dir`, to its end. */
function snakemake(dir: string, ...args: string[]) {
  const r = spawnSync('snakemake', ['--cores', '1', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describeNeeds('ckpt flow and Snakemake, each head SIGKILLed mid-run', SNAKEMAKE, () => {
  it('ckpt reruns no finished task; what Snakemake does is recorded', async () => {
    // ckpt: kill the head once two tasks have written their side effect, mid-way into the third.
    const ckptDir = tmp();
    writePipeline(ckptDir);
    const head = startHead(ckptDir, ['--jobs', '1']);
    await waitFor(() => logLines(ckptDir).length >= 2, 'two ckpt tasks to finish', { timeoutMs: 60_000 });
    await sleep(100);
    head.child.kill('SIGKILL');
    await head.exited;
    const ckptLogBefore = logLines(ckptDir);
    const committed = (await flowRecords(ckptDir)).filter((r) => r.ok).map((r) => r.task);
    expect(committed.length).toBeGreaterThanOrEqual(2);
    const again = runCkpt(['flow', 'run'], { cwd: ckptDir, timeoutMs: 60_000 });
    expect(again.code).toBe(0);
    const ckptAfter = logLines(ckptDir).slice(ckptLogBefore.length);
    expect(rerunOf(committed, ckptAfter)).toEqual([]);
    expect(readFileSync(join(ckptDir, 'total.txt'), 'utf8')).toBe(EXPECTED);

    // Snakemake: the same kill of its head (its running job's shell lives on, as it does).
    const smkDir = tmp();
    writePipeline(smkDir);
    const smk = spawn('snakemake', ['--cores', '1'], { cwd: smkDir, env: cleanEnv(), stdio: 'ignore' });
    await waitFor(() => logLines(smkDir).length >= 2, 'two Snakemake jobs to finish', { timeoutMs: 60_000 });
    await sleep(100);
    smk.kill('SIGKILL');
    await waitExit(smk);
    // Let the orphaned job's shell end, so the log holds everything that ran before the restart.
    await sleep(TASK_SECONDS * 1000 + 1000);
    const smkLogBefore = logLines(smkDir);
    const steps: string[] = [];
    let result = snakemake(smkDir);
    steps.push(`snakemake --cores 1: exit ${result.code}`);
    for (let tries = 0; result.code !== 0 && tries < 3; tries++) {
      if (/unlock/i.test(result.output) && /lock/i.test(result.output)) {
        const unlock = snakemake(smkDir, '--unlock');
        steps.push(`snakemake --unlock: exit ${unlock.code}`);
        result = snakemake(smkDir);
        steps.push(`snakemake --cores 1: exit ${result.code}`);
      } else if (/rerun-incomplete/.test(result.output)) {
        result = snakemake(smkDir, '--rerun-incomplete');
        steps.push(`snakemake --cores 1 --rerun-incomplete: exit ${result.code}`);
      } else break;
    }
    expect(result.code, result.output).toBe(0);
    expect(readFileSync(join(smkDir, 'total.txt'), 'utf8')).toBe(EXPECTED);
    const smkAfter = logLines(smkDir).slice(smkLogBefore.length);
    console.log(
      [
        'ckpt flow and Snakemake, each head SIGKILLed after two tasks had finished:',
        `  ckpt: finished before the kill (records) ${committed.join(', ')}; restart \`ckpt flow run\` (exit 0)` +
          ` ran ${ckptAfter.join(', ')}; finished tasks run again: ${rerunOf(committed, ckptAfter).join(', ') || 'none'}`,
        `  Snakemake: finished before the restart (log) ${smkLogBefore.join(', ')}; restart: ${steps.join(' → ')}` +
          `; ran ${smkAfter.join(', ')}; finished jobs run again: ${rerunOf(smkLogBefore, smkAfter).join(', ') || 'none'}`,
      ].join('\n'),
    );
  }, 180_000);
});
