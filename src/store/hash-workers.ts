import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * The costly work of committing a file, hashing its chunks, runs in worker threads, one per core
 * (at most two), on the block buffers the file is read into, which they share: nothing is copied.
 */
const MAX_WORKERS = 2;
/** Files smaller than this are hashed on the calling thread (a worker costs ~30 ms to start). */
export const HASH_IN_WORKERS_FROM = 32 << 20;

interface Pending {
  resolve: (digests: string[]) => void;
  reject: (error: unknown) => void;
}

interface HashWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, buffer, ranges }) => {
  try {
    const found = [];
    for (let i = 0; i < ranges.length; i += 2) {
      found.push(createHash('sha256').update(new Uint8Array(buffer, ranges[i], ranges[i + 1])).digest('hex'));
    }
    parentPort.postMessage({ id, found });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error) });
  }
});
`;

let workers: HashWorker[] | undefined;
let nextWorker = 0;
let nextId = 0;

function pool(): HashWorker[] {
  if (workers) return workers;
  const count = Math.max(1, Math.min(MAX_WORKERS, availableParallelism()));
  workers = Array.from({ length: count }, () => {
    const hasher: HashWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), pending: new Map() };
    hasher.worker.on('message', (message: { id: number; found?: string[]; error?: string }) => {
      const waiting = hasher.pending.get(message.id);
      hasher.pending.delete(message.id);
      if (hasher.pending.size === 0) hasher.worker.unref();
      if (!waiting) return;
      if (message.error !== undefined || !message.found) waiting.reject(new Error(message.error));
      else waiting.resolve(message.found);
    });
    hasher.worker.on('error', (error) => failAll(hasher, error));
    hasher.worker.on('exit', () => failAll(hasher, new Error('a hashing worker exited')));
    // NOTE: after the listeners: adding a 'message' listener refs the worker's port again, and a
    // worker never asked would then keep the process alive after the commit (seen).
    hasher.worker.unref();
    return hasher;
  });
  return workers;
}

function failAll(hasher: HashWorker, error: unknown): void {
  for (const waiting of hasher.pending.values()) waiting.reject(error);
  hasher.pending.clear();
  workers = undefined; // the next hash starts fresh workers
}

/**
 * Hex SHA-256 of each range (offset, length pairs) of a shared block, computed in a worker: the
 * chunks of a file are hashed there without a copy, leaving this thread to write them.
 */
export function hashRanges(buffer: SharedArrayBuffer, ranges: readonly number[]): Promise<string[]> {
  return ask({ buffer, ranges });
}

function ask(message: { buffer: SharedArrayBuffer; ranges: readonly number[] }): Promise<string[]> {
  const all = pool();
  const hasher = all[nextWorker++ % all.length]!;
  const id = nextId++;
  return new Promise<string[]>((resolve, reject) => {
    hasher.pending.set(id, { resolve, reject });
    hasher.worker.ref();
    hasher.worker.postMessage({ id, ...message });
  });
}
