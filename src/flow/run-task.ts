import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, promises as fsp, openSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { FencedError } from '../errors.js';
import { DIR_MODE, Lease, processStartTime, readLease, Store } from '../store/index.js';
import { FileHasher, type HashedFile, MissingFileError } from './file-hash.js';
import { flowLayout, markerPath } from './flow-layout.js';
import { writeMarker } from './markers.js';
import { commitRecord, type TaskRecord } from './records.js';
import type { KeyComponent } from './task-key.js';

/** Exit status of a wrapper that stopped without a record (its head is gone or was replaced). */
export const WRAPPER_ABORTED = 75;
/** How long a task's command has to end after SIGTERM when its head is gone, before SIGKILL. */
export const TASK_KILL_GRACE_MS = 500;
/** The same for a `checkpoint:` task, so that `ckpt run` can take its checkpoint first. */
export const CHECKPOINT_KILL_GRACE_MS = 5_000;

/** What runs one attempt of a task, wherever it runs: handed over by the head. */
export interface AttemptSpec {
  task: string;
  step: string;
  command: string;
  outputs: string[];
  key: string;
  components: KeyComponent[];
  attempt: number;
  run: string;
  dir: string;
  flowDir: string;
  log: string;
  /** Set for a `checkpoint:` step: run the command under `ckpt run` with these settings. */
  checkpoint?: {
    ckpt: string[];
    store: string;
    every: string | undefined;
    capture: string[];
    app: string | undefined;
  };
}

/** Everything the local wrapper of one attempt needs. */
export interface TaskSpec extends AttemptSpec {
  /** The head's lease token: the wrapper commits under it, and only while it is current. */
  token: string;
}

/**
 * The wrapper of one attempt of a task (`ckpt flow exec`): checks that its head still holds the
 * flow's lease, leaves a running marker, runs the command (its stdout and stderr go to the
 * attempt's log), hashes the outputs and commits the task's record under the head's lease.
 * It leads its own process group; when `headLink` ends (the head died), the command is stopped
 * and no record is written. Prints `{"seq":N}` of the committed record on `out`, and returns 0,
 * or {@link WRAPPER_ABORTED} when it wrote no record.
 */
export async function runTaskWrapper(
  spec: TaskSpec,
  headLink: NodeJS.ReadableStream & { destroy?: () => void },
  out: (line: string) => void,
): Promise<number> {
  try {
    return await runAttempt(spec, headLink, out);
  } finally {
    // Let go of the link without taking its end for the head's death (it keeps the process alive).
    headLink.removeAllListeners();
    headLink.destroy?.();
  }
}

async function runAttempt(
  spec: TaskSpec,
  headLink: NodeJS.ReadableStream,
  out: (line: string) => void,
): Promise<number> {
  const layout = flowLayout(spec.flowDir);
  const store = await Store.open(layout.store);
  const current = await readLease(store.root);
  if (current?.token !== spec.token) return WRAPPER_ABORTED;
  const lease = new Lease(store.root, current, true);
  const nonce = randomBytes(8).toString('hex');
  const marker = markerPath(layout, spec.task);
  const grace = spec.checkpoint ? CHECKPOINT_KILL_GRACE_MS : TASK_KILL_GRACE_MS;
  await writeMarker(marker, {
    task: spec.task,
    pid: process.pid,
    processStart: await processStartTime(process.pid),
    token: spec.token,
    attempt: spec.attempt,
    nonce,
    startedAt: new Date().toISOString(),
    graceMs: grace,
  });
  // NOTE: the marker is written before this second look at the lease, and a new head reaps
  // markers only after it took the lease: either we see its token here, or it sees our marker.
  if ((await readLease(store.root))?.token !== spec.token) {
    await fsp.rm(marker, { force: true });
    return WRAPPER_ABORTED;
  }
  let headGone = false;
  const onHeadGone = () => {
    if (headGone) return;
    headGone = true;
    // The command is in our process group: stop it gracefully, then kill the whole group, us too.
    process.on('SIGTERM', () => {});
    try {
      process.kill(-process.pid, 'SIGTERM');
    } catch {}
    setTimeout(() => process.kill(-process.pid, 'SIGKILL'), grace).unref();
  };
  headLink.on('end', onHeadGone);
  headLink.on('close', onHeadGone);
  headLink.on('error', onHeadGone);
  headLink.resume();

  const startedAt = new Date().toISOString();
  await prepareOutputs(spec);
  // A head that died while this wrapper started: do not start the command at all.
  if (headGone) return WRAPPER_ABORTED;
  const exit = await runCommand(spec, nonce);
  if (headGone) return WRAPPER_ABORTED;
  const record = await attemptRecord(spec, { nonce, startedAt, exit });
  try {
    const seq = await commitRecord(store, lease, record);
    out(JSON.stringify({ seq }));
  } catch (error) {
    if (error instanceof FencedError) return WRAPPER_ABORTED;
    throw error;
  } finally {
    await fsp.rm(marker, { force: true });
  }
  return 0;
}

const now = () => new Date().toISOString();

/**
 * Creates the outputs' and the log's directories and removes stale outputs, so that an output
 * left by an earlier attempt never passes for this one's. A `checkpoint:` step keeps its outputs:
 * it may resume from them.
 */
export async function prepareOutputs(spec: AttemptSpec): Promise<void> {
  for (const output of spec.outputs) {
    await fsp.mkdir(dirname(join(spec.dir, output)), { recursive: true, mode: DIR_MODE });
    if (!spec.checkpoint) await fsp.rm(join(spec.dir, output), { force: true });
  }
  await fsp.mkdir(dirname(spec.log), { recursive: true, mode: DIR_MODE });
}

/** How the command of an attempt ended. */
export interface CommandExit {
  code: number | null;
  signal: string | null;
  error?: string;
}

/**
 * The record of an attempt whose command ended with `exit`: ok with the outputs' hashes when it
 * exited 0 and wrote every output, else failed with why. `extra` adds where it ran (a SLURM job).
 */
export async function attemptRecord(
  spec: AttemptSpec,
  how: { nonce: string; startedAt: string; exit: CommandExit },
  extra: Partial<TaskRecord> = {},
): Promise<TaskRecord> {
  const { exit } = how;
  const base = {
    version: 1,
    task: spec.task,
    step: spec.step,
    key: spec.key,
    components: spec.components,
    command: spec.command,
    exit: exit.code,
    signal: exit.signal,
    attempt: spec.attempt,
    run: spec.run,
    nonce: how.nonce,
    startedAt: how.startedAt,
    host: hostname(),
    pid: process.pid,
    log: spec.log,
    ...extra,
  };
  if (exit.code === 0) {
    const hashed = await hashOutputs(spec);
    return 'missing' in hashed
      ? {
          ...base,
          ok: false,
          error: `it exited 0 but did not write \`${hashed.missing}\``,
          outputs: {},
          endedAt: now(),
        }
      : { ...base, ok: true, outputs: hashed.outputs, endedAt: now() };
  }
  const why = exit.error ?? (exit.signal ? `it was killed by ${exit.signal}` : `it exited ${exit.code}`);
  return { ...base, ok: false, error: why, outputs: {}, endedAt: now() };
}

function commandArgv(spec: AttemptSpec): string[] {
  const shell = ['/bin/sh', '-c', spec.command];
  const c = spec.checkpoint;
  if (!c) return shell;
  return [
    ...c.ckpt,
    'run',
    '--store',
    c.store,
    ...(c.every ? ['--every', c.every] : []),
    ...c.capture.flatMap((g) => ['--capture', g]),
    ...(c.app ? ['--app', c.app] : []),
    '--',
    ...shell,
  ];
}

/**
 * Runs the attempt's command (under `ckpt run` for a `checkpoint:` step) in the workflow's
 * directory, its stdout and stderr appended to the attempt's log; `onStart` gets the child (to
 * forward signals to it).
 */
export async function runCommand(
  spec: AttemptSpec,
  nonce: string,
  onStart: (child: ChildProcess) => void = () => {},
): Promise<CommandExit> {
  const fd = openSync(spec.log, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CKPT_FLOW_TASK: spec.task,
    CKPT_FLOW_ATTEMPT: String(spec.attempt),
    CKPT_FLOW_ATTEMPT_ID: nonce,
  };
  delete env.CKPT_LEASE_TOKEN;
  delete env.CKPT_STORE;
  const [file, ...args] = commandArgv(spec);
  try {
    return await new Promise<CommandExit>((resolve) => {
      const child = spawn(file!, args, { cwd: spec.dir, env, stdio: ['ignore', fd, fd] });
      onStart(child);
      child.on('error', (error) =>
        resolve({ code: null, signal: null, error: `it could not start: ${error.message}` }),
      );
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
  } finally {
    closeSync(fd);
  }
}

async function hashOutputs(
  spec: AttemptSpec,
): Promise<{ outputs: Record<string, HashedFile> } | { missing: string }> {
  const hasher = await FileHasher.open(undefined);
  const outputs: Record<string, HashedFile> = {};
  for (const output of spec.outputs) {
    try {
      outputs[output] = await hasher.hash(join(spec.dir, output));
    } catch (error) {
      if (error instanceof MissingFileError) return { missing: output };
      throw error;
    }
  }
  return { outputs };
}
