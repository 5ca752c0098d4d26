import { holdsValue, readValue } from '../checkpointer/value-io.js';
import { UsageError } from '../errors.js';
import { type Manifest, readChunks, type Store } from '../store/index.js';
import { select, summarize, type ValueNode } from './summarize.js';

/** Text files whose head is shown when no path narrows the listing. */
export const MAX_HEADS = 20;
/** Lines and characters of a text file's head. */
const HEAD_LINES = 5;
const HEAD_CHARS = 400;
/** Bytes read to tell text from binary (and to take the head from). */
const SNIFF_BYTES = 8192;

/** A file, directory or symlink of a file checkpoint. */
export interface FileSummary {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  size?: number;
  /** For a file: `text` (UTF-8 without NUL in its first 8 KiB), `binary` or `empty`; unset when not read. */
  content?: 'text' | 'binary' | 'empty';
  head?: string[];
  target?: string;
}

/** What `ckpt inspect` shows of one checkpoint. */
export type Inspection =
  | { seq: number; step: number; kind: 'value'; node: ValueNode }
  | { seq: number; step: number; kind: 'files'; files: FileSummary[]; headsShown: number };

/**
 * Looks inside a checkpoint, every byte read verified: a library checkpoint's value tree (the
 * part at `path` only, when given) with statistics of every array; a file checkpoint's files
 * (those at or under `path`) with sizes, whether they are text, and the heads of text files.
 */
export async function inspectCheckpoint(
  store: Store,
  manifest: Manifest,
  path?: string,
): Promise<Inspection> {
  const base = { seq: manifest.seq, step: manifest.step };
  if (holdsValue(manifest)) {
    const value = await readValue(store.root, manifest);
    const node = path ? summarize(select(value, path), path) : summarize(value);
    return { ...base, kind: 'value', node };
  }
  const wanted = path?.replace(/\/+$/, '');
  const entries = manifest.entries.filter(
    (e) => e.type !== 'blob' && (!wanted || e.path === wanted || e.path.startsWith(`${wanted}/`)),
  );
  if (wanted && entries.length === 0) {
    throw new UsageError(`Checkpoint #${manifest.seq} has no file at or under \`${wanted}\`.`, {
      hint: `\`ckpt inspect ${manifest.seq}\` lists its files.`,
    });
  }
  const files: FileSummary[] = [];
  let headsShown = 0;
  for (const e of entries) {
    if (e.type === 'dir') files.push({ path: e.path, type: 'dir' });
    else if (e.type === 'symlink') files.push({ path: e.path, type: 'symlink', target: e.target });
    else if (e.type === 'file') {
      const file: FileSummary = { path: e.path, type: 'file', size: e.size };
      if (e.size === 0) file.content = 'empty';
      else if (wanted || headsShown < MAX_HEADS) {
        const first = e.chunks[0]!;
        const bytes = new Uint8Array(first.n);
        await readChunks(store.root, [first], bytes);
        const sniff = bytes.subarray(0, SNIFF_BYTES);
        const text = textOf(sniff);
        file.content = text === undefined ? 'binary' : 'text';
        if (text !== undefined) {
          const lines = text.slice(0, HEAD_CHARS).split('\n');
          if (lines.at(-1) === '') lines.pop();
          file.head = lines.slice(0, HEAD_LINES);
          headsShown++;
        }
      }
      files.push(file);
    }
  }
  return { ...base, kind: 'files', files, headsShown };
}

/** The bytes as text, if they are UTF-8 without NUL (a character cut at the end is allowed). */
function textOf(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
  } catch {
    return undefined;
  }
}
