import { readFileSync } from 'node:fs';
import { isAbsolute, join, posix, relative, sep } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import type { AppContext } from './app-options.js';
import type { AppSpec } from './app-spec.js';
import { pythonHelperEnv } from './pytorch.js';

/** The files a `tf.train.CheckpointManager` writes: its pointer file, and each checkpoint's index and shards. */
const TF_GLOBS = ['**/checkpoint', '**/*.index', '**/*.data-[0-9]*-of-[0-9]*'];

/** The checkpoint a `checkpoint` pointer file names (`model_checkpoint_path: "ckpt-7"`), as written. */
export function pointedCheckpoint(text: string): string | undefined {
  return /^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"\s*$/m.exec(text)?.[1];
}

/** The path prefix of the checkpoint a pointer file names (TF writes it relative to the file's directory). */
function checkpointBase(pointerFile: string, target: string): string {
  return posix.normalize(posix.isAbsolute(target) ? target : posix.join(posix.dirname(pointerFile), target));
}

/** `ckpt-7.data-00001-of-00002` → [1, 2]; undefined for other names. */
function shardOf(name: string): [number, number] | undefined {
  const m = /\.data-(\d+)-of-(\d+)$/.exec(name);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Of the matched files, the checkpoints that `checkpoint` files name: per directory holding a
 * `checkpoint` file, that file, the named checkpoint's `.index` and its `.data-*-of-*` shards.
 * A checkpoint being written (its files there, the pointer not yet moved to it: TensorFlow
 * rewrites the pointer atomically, last) is never selected, nor are older ones.
 */
export function selectPointed(matches: readonly string[], pointers: ReadonlyMap<string, string>): string[] {
  const chosen: string[] = [];
  for (const [pointerFile, target] of pointers) {
    const base = checkpointBase(pointerFile, target);
    chosen.push(pointerFile);
    for (const file of matches) {
      if (file === `${base}.index` || (file.startsWith(`${base}.data-`) && shardOf(file))) chosen.push(file);
    }
  }
  return chosen.sort();
}

/** Whether the selection holds, for every pointer, the index and every one of its N shards. */
export function pointedComplete(files: readonly string[], pointers: ReadonlyMap<string, string>): boolean {
  if (pointers.size === 0) return false;
  for (const [pointerFile, target] of pointers) {
    const base = checkpointBase(pointerFile, target);
    if (!files.includes(`${base}.index`)) return false;
    const shards = files.filter((f) => f.startsWith(`${base}.data-`)).map((f) => shardOf(f));
    const total = shards[0]?.[1];
    if (total === undefined || shards.some((s) => s?.[1] !== total)) return false;
    const seen = new Set(shards.map((s) => s![0]));
    for (let i = 0; i < total; i++) if (!seen.has(i)) return false;
  }
  return true;
}

/**
 * TensorFlow and Keras training scripts. Scripts using `python/ckpt_keras.py` (put on
 * PYTHONPATH with `python/ckpt_job.py`, as for PyTorch) commit what Keras saved and stop on
 * ckpt's signal. For `tf.train.CheckpointManager` checkpoints ckpt captures a checkpoint only
 * once the `checkpoint` pointer file names it and its index and all its shards are there and
 * closed, and commits them together: never a half-written `ckpt-N`, never one the pointer does
 * not name yet.
 */
export function tfApp(ctx: AppContext, packageRoot: string): AppBehavior {
  return {
    name: 'tf',
    env: () => pythonHelperEnv(packageRoot),
    capture: {
      globs: TF_GLOBS,
      select: (matches) => selectPointed(matches, readPointers(ctx.cwd, matches)),
      async isComplete(files, cwd) {
        // The pointers again, as they are now: what was selected must be what they name.
        const pointers = readPointers(cwd, files);
        return pointedComplete(files, pointers) && selectPointed(files, pointers).length === files.length;
      },
      stepOf(files) {
        const n = files.map((f) => /-(\d+)\.index$/.exec(f)?.[1]).find((m) => m !== undefined);
        return n === undefined ? undefined : Number(n);
      },
    },
  };
}

/** The checkpoint each `checkpoint` pointer file among `matches` names, relative to `cwd`. */
function readPointers(cwd: string, matches: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of matches.filter((f) => posix.basename(f) === 'checkpoint')) {
    let text = '';
    try {
      text = readFileSync(join(cwd, file), 'utf8');
    } catch {
      continue; // replaced or removed since the listing: the next look sees it
    }
    let target = pointedCheckpoint(text);
    if (target === undefined) continue;
    if (isAbsolute(target)) {
      // Only a checkpoint under the working directory can be captured.
      const rel = relative(cwd, target).split(sep).join('/');
      if (rel.startsWith('..')) continue;
      target = posix.relative(posix.dirname(file), rel);
    }
    found.set(file, target);
  }
  return found;
}

export const tf: AppSpec = {
  name: 'tf',
  create: (ctx, packageRoot) => tfApp(ctx, packageRoot),
  // No install check: TensorFlow is not installable where ckpt is tested (docs/apps.md).
};
