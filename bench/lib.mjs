// Shared helpers for the benchmarks: timing, cache dropping, table printing.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GiB = 1 << 30;
export const MiB = 1 << 20;

export const now = () => performance.now();

/**
 * A new scratch directory for one benchmark: under BENCH_DIR, or the repository's `.tmp/` (made
 * when missing, as it is in a fresh clone).
 */
export function benchDir(prefix) {
  const parent = process.env.BENCH_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '.tmp');
  mkdirSync(parent, { recursive: true });
  return mkdtempSync(join(parent, prefix));
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Drops the page cache (root only). Returns false when not allowed. */
export function dropCaches() {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/** Raw baseline: write all bytes to one file in 64 MiB writes, then fsync. */
export function rawWriteFsync(path, bytes) {
  const fd = openSync(path, 'w', 0o600);
  for (let off = 0; off < bytes.byteLength; ) {
    off += writeSync(fd, bytes, off, Math.min(64 * MiB, bytes.byteLength - off));
  }
  fsyncSync(fd);
  closeSync(fd);
}

/** Raw baseline: read a whole file into a newly allocated buffer. */
export function rawRead(path, size) {
  const out = new Uint8Array(new ArrayBuffer(size));
  const fd = openSync(path, 'r');
  for (let off = 0; off < size; ) {
    const n = readSync(fd, out, off, Math.min(64 * MiB, size - off), off);
    if (n === 0) break;
    off += n;
  }
  closeSync(fd);
  return out;
}

export function fmtMs(ms) {
  return `${ms.toFixed(0)} ms`;
}

export function fmtRate(bytes, ms) {
  return `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;
}

export function printTable(title, header, rows) {
  console.log(`\n### ${title}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

/** Fills a Float64Array with pseudo-random doubles quickly (xorshift; values are not compressible). */
export function randomFloat64(count, seed = 12345) {
  const a = new Float64Array(count);
  const u = new Uint32Array(a.buffer);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < u.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    u[i] = x;
  }
  // Keep them finite doubles: clear the top exponent bit of every value.
  for (let i = 1; i < u.length; i += 2) u[i] &= 0xbfffffff;
  return a;
}
