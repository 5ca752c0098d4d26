import { isAbsolute, join, posix } from 'node:path';
import { globSync, isDynamicPattern } from 'tinyglobby';
import { sha256Hex } from '../store/index.js';
import { type FileHasher, MissingFileError } from './file-hash.js';

/** What a task's key is made of. Resources (`slurm:`), retries and `checkpoint:` are not in it. */
export type ComponentKind = 'command' | 'env' | 'input' | 'upstream';

/**
 * One part of a key: the rendered command, an environment variable's value, an input file's
 * content, or an upstream task's key. `hash` is null while it cannot be known (an upstream task
 * that has still to run); a key with such a part is not known either.
 */
export interface KeyComponent {
  kind: ComponentKind;
  name: string;
  hash: string | null;
  /** For an input that an upstream task writes: that task. */
  from?: string;
}

/** The hash of an unset environment variable (no value hashes to it). */
export const UNSET = 'unset';
const KEY_FORMAT = 'ckpt-flow-key/1';
const KIND_RANK: Readonly<Record<ComponentKind, number>> = { command: 0, env: 1, input: 2, upstream: 3 };

/** What a task knows of one upstream task: its key and its outputs' hashes, when known. */
export interface UpstreamState {
  id: string;
  key: string | null;
  outputs: Record<string, string> | null;
  outputNames: readonly string[];
}

/** A task's inputs as seen now; `missing` names declared files that are not there. */
export interface KeyParts {
  components: KeyComponent[];
  missing: string[];
}

/**
 * The parts of a task's key: its command, its `env` values, the content of each declared input
 * (globs expanded in the workflow's directory) and of each upstream task's outputs, and the
 * upstream tasks' keys. Synchronous unless an input must be read in the background (a large
 * file the hash cache cannot vouch for): a plan asks this of 100 000 tasks.
 */
export function keyComponents(
  task: { command: string; inputs: readonly string[] },
  envNames: readonly string[],
  upstream: readonly UpstreamState[],
  dir: string,
  hasher: FileHasher,
  env: NodeJS.ProcessEnv,
): KeyParts | Promise<KeyParts> {
  const components: KeyComponent[] = [{ kind: 'command', name: 'command', hash: sha256Hex(task.command) }];
  for (const name of envNames) {
    const value = env[name];
    components.push({ kind: 'env', name, hash: value === undefined ? UNSET : sha256Hex(value) });
  }
  const inputs = new Map<string, KeyComponent>();
  for (const up of upstream) {
    for (const out of up.outputNames) {
      inputs.set(out, { kind: 'input', name: out, hash: up.outputs?.[out] ?? null, from: up.id });
    }
  }
  const missing: string[] = [];
  const reading: Promise<void>[] = [];
  for (const pattern of task.inputs) {
    const names =
      mayBeGlob(pattern) && isDynamicPattern(pattern)
        ? globSync(pattern, { cwd: dir, onlyFiles: true, expandDirectories: false }).sort()
        : [isAbsolute(pattern) ? pattern : posix.normalize(pattern)];
    for (const name of names) {
      if (inputs.has(name)) continue;
      const component: KeyComponent = { kind: 'input', name, hash: null };
      inputs.set(name, component);
      try {
        const hashed = hasher.hashNow(isAbsolute(name) ? name : join(dir, name));
        if (!(hashed instanceof Promise)) component.hash = hashed.hash;
        else {
          reading.push(
            hashed.then(
              (h) => {
                component.hash = h.hash;
              },
              (error: unknown) => {
                if (!(error instanceof MissingFileError)) throw error;
                missing.push(name);
                inputs.delete(name);
              },
            ),
          );
        }
      } catch (error) {
        if (!(error instanceof MissingFileError)) throw error;
        missing.push(name);
        inputs.delete(name);
      }
    }
  }
  const finish = (): KeyParts => {
    components.push(...inputs.values());
    for (const up of upstream) components.push({ kind: 'upstream', name: up.id, hash: up.key });
    components.sort(
      (a, b) => KIND_RANK[a.kind] - KIND_RANK[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    return { components, missing };
  };
  return reading.length === 0 ? finish() : Promise.all(reading).then(finish);
}

/** Whether `pattern` has a character a glob needs: a cheap test before tinyglobby's full one. */
function mayBeGlob(pattern: string): boolean {
  return /[*?[\]{}()!+@\\]/.test(pattern);
}

/** The key of these parts (SHA-256 of their canonical JSON), or null when a part is unknown. */
export function keyOf(components: readonly KeyComponent[]): string | null {
  if (components.some((c) => c.hash === null)) return null;
  return sha256Hex(JSON.stringify([KEY_FORMAT, components.map((c) => [c.kind, c.name, c.hash])]));
}

/** One difference between a recorded key's parts and the current ones. */
export interface ComponentChange {
  kind: ComponentKind;
  name: string;
  old: string | null | undefined;
  new: string | null | undefined;
  from?: string | undefined;
}

/** The parts that differ: changed, added (old undefined) or removed (new undefined). */
export function diffComponents(
  before: readonly KeyComponent[],
  now: readonly KeyComponent[],
): ComponentChange[] {
  const id = (c: KeyComponent) => `${c.kind}\0${c.name}`;
  const old = new Map(before.map((c) => [id(c), c]));
  const changes: ComponentChange[] = [];
  for (const c of now) {
    const was = old.get(id(c));
    old.delete(id(c));
    if (!was || was.hash !== c.hash)
      changes.push({ kind: c.kind, name: c.name, old: was?.hash, new: c.hash, from: c.from });
  }
  for (const was of old.values())
    changes.push({ kind: was.kind, name: was.name, old: was.hash, new: undefined });
  return changes;
}
