/**
 * The real local SLURM cluster for test/slurm/*.test.ts (scripts/local-slurm.sh): starting it,
 * submitting with `ckpt sbatch`, watching jobs, reading the jobcomp file and the fixture program's
 * progress log, cleaning up. SLURM tests run one at a time (vitest runs files one by one) and
 * every test leaves the queue empty: on one node a COMPLETING job blocks the next one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll } from 'vitest';
import { parseJobRecord } from '../../src/slurm/index.js';
import { type JournalEvent, readJournal } from '../../src/store/index.js';
import type { JobStatus } from '../../src/supervisor/index.js';
import { type CkptResult, cleanEnv, runCkpt, ckptJson as runCkptJson } from '../helpers/cli.js';
import { describeNeeds, hasCommand, type Need } from '../helpers/needs.js';
import { CLI_BIN, REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait-for.js';

export const LAB = process.env.CKPT_SLURM_LAB ?? '/tmp/ckpt-slurm-lab';
export const SLURM_CONF = join(LAB, 'slurm.conf');
export const JOBCOMP = join(LAB, 'jobcomp.txt');
export const PROG = join(REPO_ROOT, 'test', 'fixtures', 'slurm', 'prog.py');
const LAB_SCRIPT = join(REPO_ROOT, 'scripts', 'local-slurm.sh');
const INSTALL = 'apt-get install slurmctld slurmd slurm-client munge';
/** KillWait in the lab's slurm.conf: SIGTERM → SIGKILL. */
export const KILL_WAIT_MS = 10_000;

const NEEDED = [
  'munged',
  'mungekey',
  'slurmctld',
  'slurmd',
  'sinfo',
  'squeue',
  'sbatch',
  'scontrol',
  'scancel',
];
const missing = NEEDED.filter((bin) => !hasCommand(bin));
const SLURM: Need = {
  name: `SLURM (${missing.join(', ')} not found)`,
  present: missing.length === 0,
  install: INSTALL,
};

/**
 * `describe` for a SLURM test file: starts the lab cluster first. Without SLURM installed the
 * tests are skipped with a message, except under CI, where that is a failure.
 */
export function describeSlurm(name: string, fn: () => void): void {
  describeNeeds(name, SLURM, () => {
    beforeAll(async () => {
      requireBuild();
      await startLab();
    }, 120_000);
    fn();
  });
}

/** The environment for SLURM clients and submitted jobs: ours, without CKPT_* or test-runner noise. */
export function slurmEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = cleanEnv({ SLURM_CONF, ...extra });
  for (const key of Object.keys(env)) if (key.startsWith('VITEST') || key === 'NODE_OPTIONS') delete env[key];
  return env;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command (scontrol, scancel, …) against the lab. */
export function sh(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Run {
  const r = spawnSync(command, args, {
    env: slurmEnv(opts.env),
    encoding: 'utf8',
    timeout: 30_000,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts the lab (idempotent), brings node1 back if a test left it down, waits for an empty queue. */
export async function startLab(): Promise<void> {
  // The script's own settings (CKPT_SLURM_LAB, ports, CPUs) pass through; slurmEnv drops CKPT_*.
  const settings = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[0].startsWith('CKPT_SLURM_') && e[1] !== undefined,
    ),
  );
  const r = sh('bash', [LAB_SCRIPT, 'start'], { env: { ...settings, CKPT_SLURM_LAB: LAB } });
  if (r.code !== 0) throw new Error(`scripts/local-slurm.sh start failed:\n${r.stdout}${r.stderr}`);
  process.env.SLURM_CONF = SLURM_CONF;
  const state = sh('sinfo', ['-h', '-n', 'node1', '-o', '%T']).stdout.trim();
  if (/down|drain|fail/i.test(state)) sh('scontrol', ['update', 'NodeName=node1', 'State=RESUME']);
  await waitFor(() => /^(idle|mixed|allocated)/.test(nodeState()), 'node1 to be up', { timeoutMs: 30_000 });
  await waitFor(
    () => queue().length === 0,
    'an empty queue (jobs of an earlier run are still there: scancel them)',
    { timeoutMs: 60_000, everyMs: 500 },
  );
}

export function nodeState(): string {
  return sh('sinfo', ['-h', '-n', 'node1', '-o', '%T']).stdout.trim();
}

/** Job ids (with array tasks as `A_i`) and states in the queue, including COMPLETING jobs. */
export function queue(): string[] {
  return sh('squeue', ['-h', '-o', '%i %T'])
    .stdout.split('\n')
    .filter((line) => line.trim() !== '');
}

/** `scontrol show job -o ID` as fields; undefined once SLURM has forgotten it. */
export function showJob(id: string): Record<string, string> | undefined {
  const r = sh('scontrol', ['show', 'job', '-o', id]);
  if (r.code !== 0) return undefined;
  const line = r.stdout.split('\n')[0] ?? '';
  return line ? parseJobRecord(line) : undefined;
}

export const FINAL_STATES = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY'];

/** Waits until the job ended for good (a requeued job goes PENDING again, not final). */
export async function waitJobEnd(
  id: string,
  timeoutMs: number,
  dir?: string,
): Promise<Record<string, string>> {
  return waitFor(
    () => {
      const fields = showJob(id);
      return fields && FINAL_STATES.includes(fields.JobState ?? '') ? fields : undefined;
    },
    `job ${id} to end`,
    { timeoutMs, everyMs: 500, ...(dir ? { explain: () => diagnose(dir) } : {}) },
  );
}

/** What a failing test should show: the job's output, the tail of the progress log, the queue. */
export function diagnose(dir: string): string {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      return '(none)';
    }
  };
  const progress = read('progress.log')
    .split('\n')
    .filter((l) => !l.startsWith('step '))
    .slice(-15)
    .join('\n');
  return `--- out.txt\n${read('out.txt')}\n--- progress.log (no step lines, tail)\n${progress}\n--- squeue\n${queue().join('\n')}`;
}

/**
 * Tracks the jobs a test submits; after each test: scancel them and wait until the queue is
 * empty, COMPLETING jobs included. Also keeps the test's directory when it failed.
 */
export function useJobs(): { jobs: Set<string>; workDir: () => string } {
  const jobs = new Set<string>();
  const dirs: string[] = [];
  afterEach(async (ctx) => {
    if (jobs.size > 0) sh('scancel', [...jobs]);
    jobs.clear();
    await waitFor(() => queue().length === 0, 'the queue to drain after the test', {
      timeoutMs: 60_000,
      everyMs: 250,
    });
    const failed = ctx.task.result?.state === 'fail';
    for (const dir of dirs.splice(0)) {
      if (failed) console.log(`kept the failed test's directory: ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
  return {
    jobs,
    workDir: () => {
      const dir = mkdtempSync(join(tmpdir(), 'ckpt-slurm-test-'));
      dirs.push(dir);
      return dir;
    },
  };
}

/** `node bin/ckpt ARGS` in `cwd` with the lab's environment. */
export function ckpt(cwd: string, args: readonly string[]): CkptResult {
  return runCkpt(args, { cwd, env: slurmEnv() });
}

/** `ckpt --store STORE ARGS --json` with the lab's environment, parsed. */
export function ckptJson<T>(cwd: string, store: string, args: readonly string[]): T {
  return runCkptJson<T>(['--store', store, ...args], { cwd, env: slurmEnv() });
}

export function jobStatus(cwd: string, store: string): JobStatus {
  return ckptJson<JobStatus>(cwd, store, ['status']);
}

/** `ckpt --store STORE sbatch ARGS` in `cwd`: submits, returns the job id (registered for clean-up). */
export function submit(jobs: Set<string>, cwd: string, store: string, args: readonly string[]): string {
  const r = ckpt(cwd, ['--store', store, 'sbatch', ...args]);
  if (r.code !== 0) throw new Error(`ckpt sbatch exited ${r.code}: ${r.stderr}`);
  const id = r.stdout.trim();
  if (!/^\d+$/.test(id)) throw new Error(`ckpt sbatch printed no job id: ${r.stdout}`);
  jobs.add(id);
  return id;
}

export interface ProgOptions {
  steps: number;
  every?: number;
  stepMs?: number;
  seed?: string;
  prefix?: string;
}

/** The fixture program's argv (test/fixtures/slurm/prog.py), committing with this ckpt. */
export function progArgs(o: ProgOptions): string[] {
  return [
    PROG,
    '--steps',
    String(o.steps),
    '--every',
    String(o.every ?? 50),
    '--step-ms',
    String(o.stepMs ?? 100),
    ...(o.seed ? ['--seed', o.seed] : []),
    ...(o.prefix ? ['--prefix', o.prefix] : []),
    '--ckpt',
    process.execPath,
    CLI_BIN,
  ];
}

export interface Result {
  step: number;
  digest: string;
}

/** The same program run bare, without ckpt or SLURM, to the end (no sleeping: the digest does not depend on time). */
export function referenceResult(o: ProgOptions): Result {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-slurm-ref-'));
  try {
    const args = progArgs({ ...o, stepMs: 0 });
    const r = spawnSync('python3', args.slice(0, args.indexOf('--ckpt')), {
      cwd: dir,
      env: cleanEnv(),
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`reference run failed: ${r.stderr}`);
    return readResult(join(dir, o.prefix ?? '.'))!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function readResult(dir: string): Result | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as Result;
  } catch {
    return undefined;
  }
}

/** One line of the fixture's progress.log. */
export interface ProgressEvent {
  event: string;
  pid: number;
  restart: number;
  /** Unix time, seconds. */
  t: number;
  step?: number;
  [key: string]: string | number | undefined;
}

export function readProgress(dir: string): ProgressEvent[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'progress.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [event, ...pairs] = line.split(' ');
      const e: Record<string, string | number> = { event: event! };
      for (const pair of pairs) {
        const eq = pair.indexOf('=');
        if (eq < 0) continue;
        const raw = pair.slice(eq + 1);
        e[pair.slice(0, eq)] = raw !== '' && /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      }
      return e as unknown as ProgressEvent;
    });
}

/** The highest step the program reached so far. */
export function lastStep(dir: string): number {
  return Math.max(0, ...readProgress(dir).map((e) => (e.event === 'step' ? (e.step ?? 0) : 0)));
}

/**
 * Calls `onStart` once for each new incarnation of the program (a `start` line in its progress
 * log), e.g. to shorten its time limit. Returns a function that stops watching.
 */
export function watchStarts(dir: string, onStart: (start: ProgressEvent) => void): () => void {
  const seen = new Set<number>();
  const timer = setInterval(() => {
    for (const e of readProgress(dir)) {
      if (e.event !== 'start' || seen.has(e.pid)) continue;
      seen.add(e.pid);
      onStart(e);
    }
  }, 100);
  return () => clearInterval(timer);
}

/** Where each incarnation (after the first) resumed, and how much of the previous one's work was lost. */
export interface Interruption {
  /** SLURM_RESTART_COUNT of the interrupted incarnation. */
  restart: number;
  /** The last step it reached. */
  reached: number;
  /** The step its last successful commit held (before the stop). */
  lastCommit: number;
  /** The step the next incarnation resumed from. */
  resumedFrom: number;
  /** Steps done but not in the checkpoint resumed from: work lost. */
  lostSteps: number;
}

export function interruptions(progress: readonly ProgressEvent[]): Interruption[] {
  const starts = progress.filter((e) => e.event === 'start');
  return starts.slice(0, -1).map((start, i) => {
    const mine = progress.filter((e) => e.pid === start.pid);
    const reached = Math.max(
      start.step ?? 0,
      ...mine.filter((e) => e.event === 'step').map((e) => e.step ?? 0),
    );
    const commits = mine.filter((e) => e.event === 'commit' || e.event === 'sigcommit');
    const resumedFrom = starts[i + 1]!.step ?? 0;
    return {
      restart: start.restart,
      reached,
      lastCommit: commits.at(-1)?.step ?? start.step ?? 0,
      resumedFrom,
      lostSteps: reached - resumedFrom,
    };
  });
}

/** Records of the jobcomp file (one `key=value` line per job segment) written after `offset` bytes. */
export function jobcomp(offset: number, jobId?: string): Array<Record<string, string>> {
  if (!existsSync(JOBCOMP)) return [];
  const text = readFileSync(JOBCOMP).subarray(offset).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('JobId='))
    .map(parseJobRecord)
    .filter((r) => jobId === undefined || r.JobId === jobId);
}

export function jobcompOffset(): number {
  return existsSync(JOBCOMP) ? statSync(JOBCOMP).size : 0;
}

export async function journal(store: string): Promise<JournalEvent[]> {
  return (await readJournal(store)).events;
}

/** SLURM prints local times without a zone. */
export function slurmTime(value: string | undefined): number {
  const ms = value ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new Error(`not a SLURM time: ${value}`);
  return ms;
}

/** One line the measurements table of docs/performance.md is built from. */
export function reportMetrics(kind: string, data: Record<string, unknown>): void {
  console.log(`[slurm-metrics] ${kind} ${JSON.stringify(data)}`);
}

/** An incarnation's start as seen from SLURM (StartTime, whole seconds) and from the program. */
export interface StartSeen {
  restart: number;
  pid: number;
  step: number;
  programStartMs: number;
  slurmStartMs: number;
  /** From SLURM's StartTime to the program running with its state restored (StartTime is truncated to the second). */
  latencyMs: number;
}

/**
 * Watches the program's incarnations of job `jobId` (an array task as `A_i`), records when each
 * started, and calls `onStart` (e.g. to shorten its time limit).
 */
export function trackStarts(
  dir: string,
  jobId: string,
  onStart: (e: ProgressEvent) => void = () => {},
): { seen: StartSeen[]; stop: () => void } {
  const seen: StartSeen[] = [];
  const stop = watchStarts(dir, (e) => {
    onStart(e);
    const fields = showJob(jobId);
    const slurmStartMs = slurmTime(fields?.StartTime);
    const programStartMs = Math.round(e.t * 1000);
    seen.push({
      restart: e.restart,
      pid: e.pid,
      step: e.step ?? 0,
      programStartMs,
      slurmStartMs,
      latencyMs: programStartMs - slurmStartMs,
    });
  });
  return { seen, stop };
}

/** For each progress event matching `at`: the steps done since that incarnation's last checkpoint (or its start). */
export function stepsSinceCheckpoint(
  progress: readonly ProgressEvent[],
  at: (e: ProgressEvent) => boolean,
): number[] {
  return progress.filter(at).map((e) => {
    const mine = progress.filter((c) => c.pid === e.pid && c.t <= e.t);
    const base = mine.filter((c) => c.event === 'start' || c.event === 'commit' || c.event === 'sigcommit');
    return (e.step ?? 0) - Math.max(0, ...base.map((c) => c.step ?? 0));
  });
}

/** From each `run-end` that handed the job back to SLURM to SLURM's StartTime of the next segment. */
export function requeueDelays(events: readonly JournalEvent[], seen: readonly StartSeen[]): number[] {
  const ends = events
    .filter((e) => e.type === 'run-end' && e.outcome === 'requeued')
    .map((e) => Date.parse(e.time));
  return ends.map((end, i) => {
    const next = seen.find((s) => s.restart === i + 1);
    return next ? next.slurmStartMs - end : Number.NaN;
  });
}
