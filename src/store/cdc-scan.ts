import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { createWasmScanner } from './cdc-wasm.js';
import { CDC_WINDOW, scanCandidates } from './chunker.js';

/**
 * Finding cut candidates is the costliest step of chunking a file (a gear hash over every byte),
 * and the blocks of a file can be scanned independently, so it runs in worker threads, one per
 * core (at most two): a block's buffer is transferred to a worker and back, never copied.
 */
const MAX_WORKERS = 2;
/** Files smaller than this are scanned on the calling thread (a worker costs ~30 ms to start). */
export const SCAN_IN_WORKERS_FROM = 32 << 20;

interface Pending {
  resolve: (value: { buffer: ArrayBufferLike; found: Int32Array | string[] }) => void;
  reject: (error: unknown) => void;
}

interface ScanWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const scanCandidates = ${scanCandidates.toString()};
const createWasmScanner = ${createWasmScanner.toString()};
const scan = createWasmScanner() ?? scanCandidates;
parentPort.on('message', ({ id, kind, buffer, length, from, ranges }) => {
  const shared = typeof SharedArrayBuffer === 'function' && buffer instanceof SharedArrayBuffer;
  try {
    if (kind === 'hash') {
      const found = [];
      for (let i = 0; i < ranges.length; i += 2) {
        found.push(createHash('sha256').update(new Uint8Array(buffer, ranges[i], ranges[i + 1])).digest('hex'));
      }
      parentPort.postMessage({ id, found });
      return;
    }
    const found = scan(new Uint8Array(buffer, 0, length), from, length);
    parentPort.postMessage({ id, buffer, found }, shared ? [found.buffer] : [buffer, found.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, buffer, error: String(error) }, shared ? [] : [buffer]);
  }
});
`;

let workers: ScanWorker[] | undefined;
let local: typeof scanCandidates | undefined;

/** The scan on this thread: WebAssembly when the runtime has it (built once), else JavaScript. */
function localScan(): typeof scanCandidates {
  local ??= createWasmScanner() ?? scanCandidates;
  return local;
}
let nextWorker = 0;
let nextId = 0;

function pool(): ScanWorker[] {
  if (workers) return workers;
  const count = Math.max(1, Math.min(MAX_WORKERS, availableParallelism()));
  workers = Array.from({ length: count }, () => {
    const scan: ScanWorker = { worker: new Worker(WORKER_SOURCE, { eval: true }), pending: new Map() };
    scan.worker.unref();
    scan.worker.on(
      'message',
      (message: { id: number; buffer: ArrayBuffer; found?: Int32Array; error?: string }) => {
        const waiting = scan.pending.get(message.id);
        scan.pending.delete(message.id);
        if (scan.pending.size === 0) scan.worker.unref();
        if (!waiting) return;
        if (message.error !== undefined || !message.found) waiting.reject(new Error(message.error));
        else waiting.resolve({ buffer: message.buffer, found: message.found });
      },
    );
    scan.worker.on('error', (error) => failAll(scan, error));
    scan.worker.on('exit', () => failAll(scan, new Error('a chunking worker exited')));
    return scan;
  });
  return workers;
}

function failAll(scan: ScanWorker, error: unknown): void {
  for (const waiting of scan.pending.values()) waiting.reject(error);
  scan.pending.clear();
  workers = undefined; // the next scan starts fresh workers
}

/**
 * The cut candidates (see {@link scanCandidates}) of `block[from, length)`, whose first `from`
 * bytes (at most 31) are the end of the previous block. An `ArrayBuffer` is lent out: it is
 * detached until the returned promise resolves with it; a `SharedArrayBuffer` is shared. With
 * `inWorker` false the scan runs on this thread.
 */
export async function scanBlock<B extends ArrayBuffer | SharedArrayBuffer>(
  buffer: B,
  length: number,
  from: number,
  inWorker: boolean,
): Promise<{ buffer: B; found: Int32Array }> {
  if (!inWorker) return { buffer, found: localScan()(new Uint8Array(buffer, 0, length), from, length) };
  const shared = buffer instanceof SharedArrayBuffer;
  const done = await ask({ kind: 'scan', buffer, length, from }, shared ? [] : [buffer as ArrayBuffer]);
  return { buffer: done.buffer as B, found: done.found as Int32Array };
}

/**
 * Hex SHA-256 of each range (offset, length pairs) of a shared block, computed in a worker: the
 * chunks of a file are hashed there without a copy, leaving this thread to write them.
 */
export async function hashRanges(buffer: SharedArrayBuffer, ranges: readonly number[]): Promise<string[]> {
  const done = await ask({ kind: 'hash', buffer, ranges }, []);
  return done.found as string[];
}

function ask(message: Record<string, unknown>, transfer: ArrayBuffer[]) {
  const all = pool();
  const scan = all[nextWorker++ % all.length]!;
  const id = nextId++;
  return new Promise<{ buffer: ArrayBufferLike; found: Int32Array | string[] }>((resolve, reject) => {
    scan.pending.set(id, { resolve, reject });
    scan.worker.ref();
    scan.worker.postMessage({ id, ...message }, transfer);
  });
}

/** Bytes of the previous block a block carries in front, so the hash is warm at its first byte. */
export const WARM_BYTES = CDC_WINDOW - 1;
