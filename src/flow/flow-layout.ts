import { join } from 'node:path';
import { sha256Hex } from '../store/index.js';

/**
 * The flow directory (`.ckpt-flow/` next to the workflow file, or `store:`):
 *
 *   store/                a ckpt store (docs/format.md): one checkpoint per finished attempt of a
 *                         task, its record in the manifest's meta; lease.json is the head's lease,
 *                         journal.log the flow's journal
 *   running/<task>.json   a task's wrapper, while it runs (pid, start time, the head's lease token)
 *   logs/<task>.<n>.log   stdout and stderr of attempt n of a task
 *   steps/<task>-<key>/   the `ckpt run` store of a `checkpoint:` task, per key
 *   hash-cache.json       content hashes by path, size, mtime, inode (a cache: safe to delete)
 *   slurm/<nonce>.json    a SLURM submission: the tasks of one sbatch (array index i = task i)
 *   slurm/<nonce>.sh      its batch script; slurm/<nonce>.out the jobs' own output
 *   results/<nonce>.<i>/  a ckpt store where the SLURM job of task i commits its record; the
 *                         head copies the record into store/ and removes this one
 */
export interface FlowLayout {
  root: string;
  store: string;
  running: string;
  logs: string;
  steps: string;
  hashCache: string;
  slurm: string;
  results: string;
}

/** The paths of the flow directory at `root`. */
export function flowLayout(root: string): FlowLayout {
  return {
    root,
    store: join(root, 'store'),
    running: join(root, 'running'),
    logs: join(root, 'logs'),
    steps: join(root, 'steps'),
    hashCache: join(root, 'hash-cache.json'),
    slurm: join(root, 'slurm'),
    results: join(root, 'results'),
  };
}

/** A file name for task `id`: readable, and unique by a hash of the id (`gen_k=1_-3f2a9c01`). */
export function taskFileName(id: string): string {
  return `${id.replace(/[^A-Za-z0-9_.=-]/g, '_').slice(0, 80)}-${sha256Hex(id).slice(0, 8)}`;
}

/** The running marker of task `id`. */
export function markerPath(layout: FlowLayout, id: string): string {
  return join(layout.running, `${taskFileName(id)}.json`);
}

/** The log of attempt `attempt` of task `id`. */
export function logPath(layout: FlowLayout, id: string, attempt: number): string {
  return join(layout.logs, `${taskFileName(id)}.${attempt}.log`);
}

/** The `ckpt run` store of a `checkpoint:` task with key `key`. */
export function stepStorePath(layout: FlowLayout, id: string, key: string): string {
  return join(layout.steps, `${taskFileName(id)}-${key.slice(0, 16)}`);
}

/** The store where the SLURM job of attempt `attemptId` (`NONCE.INDEX`) commits its record. */
export function resultStorePath(layout: FlowLayout, attemptId: string): string {
  return join(layout.results, attemptId);
}
