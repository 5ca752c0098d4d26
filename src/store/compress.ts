import { createRequire } from 'node:module';
import { IntegrityError, IoError } from '../errors.js';

/** `auto`: zstd where a sample shows it pays; `off`: store raw bytes. */
export type CompressionMode = 'auto' | 'off';
/** Compression unless the user says otherwise: `auto`. */
export const DEFAULT_COMPRESSION: CompressionMode = 'auto';
/** A chunk is stored compressed only if that saves at least this fraction of its size. */
export const MIN_SAVING = 0.1;
const SAMPLE_SIZE = 16 << 10;
const ZSTD_LEVEL = 1;

interface Zstd {
  compress(data: Uint8Array, params?: Record<string, number>): Buffer;
}

interface ZstdBinding {
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
}

let zstd: Zstd | null | undefined;
let binding: ZstdBinding | undefined;
function loadZstd(): Zstd | null {
  if (zstd === undefined) {
    try {
      const require = createRequire(import.meta.url);
      zstd = require('zstd-napi') as Zstd;
      binding = require('zstd-napi/binding') as ZstdBinding;
    } catch {
      zstd = null;
    }
  }
  return zstd;
}

/**
 * The largest compressed chunk file accepted for `rawSize` bytes. ckpt stores a chunk compressed
 * only when that saves 10 %; the bound leaves room for other zstd writers (ZSTD_compressBound).
 */
export function maxPackedSize(rawSize: number): number {
  return rawSize + (rawSize >>> 8) + 1024;
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

/**
 * Decompresses a stored chunk into `target`, which has exactly the chunk's declared size.
 * NOTE: the output can never exceed `target` (zstd stops with "destination buffer is too small"),
 * so a decompression bomb costs no memory beyond the declared size.
 * Throws {@link IntegrityError} when the data does not decompress to exactly that size, and
 * {@link IoError} when the zstd binding is not installed.
 */
export function decompressInto(packed: Uint8Array, target: Uint8Array, name: string): void {
  if (!loadZstd() || !binding) {
    throw new IoError(
      `Cannot read compressed chunk ${name}: the zstd binding (zstd-napi) is not installed.`,
      {
        hint: 'Reinstall ckpt with its dependencies (npm ci) so that zstd-napi builds.',
      },
    );
  }
  let produced: number;
  try {
    produced = new binding.DCtx().decompress(target, packed);
  } catch (error) {
    throw new IntegrityError(
      `Chunk ${name} does not decompress to its declared ${target.byteLength} bytes: ${(error as Error).message}.`,
      { cause: error },
    );
  }
  if (produced !== target.byteLength) {
    throw new IntegrityError(
      `Chunk ${name} decompresses to ${produced} bytes, expected ${target.byteLength}.`,
    );
  }
}
