import {
  closeSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** Deterministic pseudo-random bytes (xorshift32), fast enough for tens of MiB. */
export function seededBytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const words = new Uint32Array(out.buffer, out.byteOffset, Math.floor(length / 4));
  let x = seed | 0 || 0x2545f491;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < length; i++) out[i] = next() & 0xff;
  return out;
}

/** Highly compressible bytes: a short text line repeated. */
export function compressibleBytes(length: number): Buffer {
  const line = Buffer.from('step=000123 loss=0.4567 lr=0.001 grad_norm=1.2345\n');
  const out = Buffer.alloc(length);
  for (let at = 0; at < length; at += line.length) line.copy(out, at, 0, Math.min(line.length, length - at));
  return out;
}

/** Writes `data` to `path`, creating parent directories. */
export function writeFileDeep(path: string, data: Uint8Array | string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data, mode === undefined ? undefined : { mode });
}

/** XORs the byte at `offset` (negative: from the end) with `mask`, in place. Returns the old byte. */
export function corruptByte(path: string, offset: number, mask = 0x01): number {
  const size = statSync(path).size;
  const at = offset < 0 ? size + offset : offset;
  if (at < 0 || at >= size) throw new Error(`offset ${offset} is outside ${path} (${size} bytes)`);
  const fd = openSync(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    const old = byte[0]!;
    byte[0] = old ^ mask;
    writeSync(fd, byte, 0, 1, at);
    return old;
  } finally {
    closeSync(fd);
  }
}

/** Cuts `bytes` bytes off the end of a file. */
export function truncateBy(path: string, bytes: number): void {
  truncateSync(path, statSync(path).size - bytes);
}
