import { FormatError } from '../errors.js';
import { decodeValue, encodeValue } from '../state/index.js';
import {
  allocateEntry,
  type BlobEntry,
  type ChunkWriter,
  entryHash,
  fixedChunks,
  type Manifest,
  readChunks,
} from '../store/index.js';
import type { ChangeCache } from './change-cache.js';

/** Manifest key of the value document (the JSON part of a stored value). */
export const VALUE_DOC_KEY = 'value';

/** A value split into what a save writes: the document and the raw array views. */
export interface ValueParts {
  doc: Uint8Array;
  blobs: Array<{ key: string; bytes: Uint8Array }>;
}

/** Splits a value into its encoded document and its large binary parts (saved as raw chunks). */
export function splitValue(state: unknown): ValueParts {
  const { doc, blobs } = encodeValue(state);
  return { doc, blobs: blobs.map((b) => ({ key: b.key, bytes: b.bytes })) };
}

/** Writes the chunks of a value's parts; returns the manifest entries. */
export async function writeValueParts(
  writer: ChunkWriter,
  parts: ValueParts,
  cache: ChangeCache,
): Promise<BlobEntry[]> {
  const all = [{ key: VALUE_DOC_KEY, bytes: parts.doc }, ...parts.blobs];
  // Every chunk is queued at once: the writer hashes and writes several in parallel.
  const pending = all.map(({ key, bytes }) =>
    fixedChunks(bytes.byteLength).map(([offset, length]) => {
      const data = bytes.subarray(offset, offset + length);
      const position = `${key}@${offset}:${length}`;
      const { knownHash, fast } = cache.lookup(position, data);
      return writer.add(data, knownHash).then((ref) => {
        cache.record(position, fast, ref.h);
        return ref;
      });
    }),
  );
  const entries: BlobEntry[] = [];
  for (const [i, { key, bytes }] of all.entries()) {
    const chunks = await Promise.all(pending[i]!);
    entries.push({
      type: 'blob',
      key,
      size: bytes.byteLength,
      hash: entryHash(chunks.map((c) => c.h)),
      chunks,
    });
  }
  return entries;
}

/** Reads and verifies a value checkpoint and decodes it. Arrays are allocated fresh and aligned. */
export async function readValue(root: string, manifest: Manifest): Promise<unknown> {
  const blobs = new Map<string, Uint8Array>();
  let doc: Uint8Array | undefined;
  for (const entry of manifest.entries) {
    if (entry.type !== 'blob') continue;
    const bytes = allocateEntry(entry.size, `Entry \`${entry.key}\` of checkpoint #${manifest.seq}`);
    await readChunks(root, entry.chunks, bytes);
    if (entry.key === VALUE_DOC_KEY) doc = bytes;
    else blobs.set(entry.key, bytes);
  }
  if (!doc) {
    throw new FormatError(`Checkpoint #${manifest.seq} holds no JavaScript value (it holds files).`, {
      hint: 'Use `ckpt restore` to get its files, or open the store the program saved its state in.',
    });
  }
  return decodeValue(doc, blobs);
}

/** Whether a manifest holds a JavaScript value (as opposed to files only). */
export function holdsValue(manifest: Manifest): boolean {
  return manifest.entries.some((e) => e.type === 'blob' && e.key === VALUE_DOC_KEY);
}
