import { createRequire } from 'node:module';

/** `auto`: zstd where a sample shows it pays; `off`: store raw bytes. */
export type CompressionMode = 'auto' | 'off';
export const DEFAULT_COMPRESSION: CompressionMode = 'auto';
/** A chunk is stored compressed only if that saves at least this fraction of its size. */
export const MIN_SAVING = 0.1;
const SAMPLE_SIZE = 16 << 10;
const ZSTD_LEVEL = 1;

interface Zstd {
  compress(data: Uint8Array, params?: Record<string, number>): Buffer;
  decompress(data: Uint8Array): Buffer;
}

let zstd: Zstd | null | undefined;
function loadZstd(): Zstd | null {
  if (zstd === undefined) {
    try {
      zstd = createRequire(import.meta.url)('zstd-napi') as Zstd;
    } catch {
      zstd = null;
    }
  }
  return zstd;
}

/** True when the zstd binding loaded: compressed chunks can be written and read. */
export function zstdAvailable(): boolean {
  return loadZstd() !== null;
}

/**
 * Returns the zstd-compressed form of `data` if it saves at least {@link MIN_SAVING}, else undefined.
 * NOTE: a 16 KiB sample from the middle is compressed first, so incompressible data (random
 * floats) costs a few microseconds per chunk instead of a full compression pass.
 */
export function compressIfWorthIt(data: Uint8Array): Buffer | undefined {
  const z = loadZstd();
  if (!z || data.byteLength < 4096) return undefined;
  if (data.byteLength > SAMPLE_SIZE * 4) {
    const from = (data.byteLength >>> 1) - (SAMPLE_SIZE >>> 1);
    const sample = z.compress(data.subarray(from, from + SAMPLE_SIZE), { compressionLevel: ZSTD_LEVEL });
    if (sample.byteLength > SAMPLE_SIZE * (1 - MIN_SAVING)) return undefined;
  }
  const packed = z.compress(data, { compressionLevel: ZSTD_LEVEL });
  return packed.byteLength <= data.byteLength * (1 - MIN_SAVING) ? packed : undefined;
}

/** Decompresses a stored chunk; throws if the zstd binding is missing. */
export function decompress(data: Uint8Array): Buffer {
  const z = loadZstd();
  if (!z) throw new Error('zstd-napi is not installed: cannot read a compressed chunk');
  return z.decompress(data);
}
