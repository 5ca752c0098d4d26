import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { FileIdentity } from '../store/index.js';
import type { CapturePlan } from './app-behavior.js';
import type { SnapshotFile } from './capture.js';
import type { StepSource } from './run-options.js';

/** The largest file `--step-from json:FIELD` parses. */
const MAX_JSON_STEP_BYTES = 16 << 20;

/**
 * The program's own step for a capture of `files` (relative to `cwd`): from the app, else from
 * `--step-from` (a number in a file name, or a JSON field); undefined means "use the counter".
 */
export async function stepOfCapture(
  files: readonly SnapshotFile[],
  plan: CapturePlan,
  source: StepSource | undefined,
  cwd: string,
): Promise<number | undefined> {
  const paths = files.map((f) => f.path);
  const fromApp = plan.stepOf?.(paths);
  if (fromApp !== undefined) return fromApp;
  if (!source) return undefined;
  if (source.kind === 'name') {
    for (const path of paths) {
      const match = source.pattern.exec(path);
      const text = match?.[1] ?? match?.[0].match(/\d+(\.\d+)?/)?.[0];
      if (text !== undefined && Number.isFinite(Number(text))) return Number(text);
    }
    return undefined;
  }
  for (const f of files) {
    // Read as checked: the commit that follows fails if the file changed since.
    const step = await readJsonStep(join(cwd, f.path), source.field, f);
    if (step !== undefined) return step;
  }
  return undefined;
}

/** A number field (`a.b.c`) of a JSON file that is still `expected`; undefined otherwise. */
async function readJsonStep(abs: string, field: string, expected: FileIdentity): Promise<number | undefined> {
  if (expected.size > MAX_JSON_STEP_BYTES) return undefined;
  try {
    const text = await fsp.readFile(abs, 'utf8');
    let value: unknown = JSON.parse(text);
    for (const part of field.split('.')) {
      value =
        typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
    }
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
