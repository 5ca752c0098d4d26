import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRecords, type TaskRecord } from '../../src/flow/index.js';
import { Store } from '../../src/store/index.js';
import { cleanEnv } from './cli.js';
import { CLI_BIN } from './repo.js';

/**
 * A fan-out pipeline: `gen` turns data/{k}.txt into parts/{k}.txt (python3), `merge` joins the
 * parts. Every command appends `<task> <attempt id>` to log.txt after writing its output: the
 * side effect a test counts. `stepFields` (YAML lines indented by 4) go into both steps, e.g.
 * `    executor: slurm`.
 */
export function writeFanOut(dir: string, ks: readonly number[], sleep = 0.05, stepFields = ''): void {
  mkdirSync(join(dir, 'data'), { recursive: true });
  for (const k of ks) writeFileSync(join(dir, 'data', `${k}.txt`), `value ${k}\n`);
  writeFileSync(
    join(dir, 'gen.py'),
    'import sys, time\nk = sys.argv[1]\ntime.sleep(float(sys.argv[2]))\n' +
      "open(f'parts/{k}.txt', 'w').write(open(f'data/{k}.txt').read().upper())\n",
  );
  writeFileSync(
    join(dir, 'ckpt-flow.yaml'),
    `version: 1
steps:
  gen:
    for_each: { k: [${ks.join(', ')}] }
    run: python3 gen.py {k} ${sleep} && echo "gen[k={k}] $CKPT_FLOW_ATTEMPT_ID" >> log.txt
    inputs: [gen.py, "data/{k}.txt"]
    outputs: ["parts/{k}.txt"]
${stepFields}  merge:
    needs: [gen]
    run: cat parts/*.txt > total.txt && echo "merge $CKPT_FLOW_ATTEMPT_ID" >> log.txt
    outputs: [total.txt]
${stepFields}`,
  );
}

/** The side-effect lines of log.txt as [task, attempt id]. */
export function sideEffects(dir: string): [string, string][] {
  let text = '';
  try {
    text = readFileSync(join(dir, 'log.txt'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ') as [string, string]);
}

/** Every record in the flow's store (those that verify). */
export async function flowRecords(dir: string): Promise<TaskRecord[]> {
  const store = await Store.open(join(dir, '.ckpt-flow', 'store'));
  return (await readRecords(store)).records.map((r) => r.record);
}

/** A running `ckpt flow run` whose stdout lines can be awaited. */
export interface FlowHead {
  child: ChildProcess;
  lines: string[];
  /** Resolves once `count` lines matching `pattern` were printed, or false when it exited first. */
  waitLines(pattern: RegExp, count: number): Promise<boolean>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Starts `ckpt flow run ...args` in `dir` (with `env`, default: ours without CKPT_*). */
export function startHead(dir: string, args: readonly string[] = [], env = cleanEnv()): FlowHead {
  const child = spawn(process.execPath, [CLI_BIN, 'flow', 'run', ...args], { cwd: dir, env });
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<() => void>();
  let buffer = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) =>
      child.on('close', (code, signal) => {
        for (const w of waiters) w();
        resolve({ code, signal, stderr });
      }),
  );
  const waitLines = (pattern: RegExp, count: number) =>
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (lines.filter((l) => pattern.test(l)).length >= count) {
          waiters.delete(check);
          resolve(true);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(check);
          resolve(false);
        }
      };
      waiters.add(check);
      check();
    });
  return { child, lines, waitLines, exited };
}
