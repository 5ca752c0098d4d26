import { createRequire } from 'node:module';

interface XxHash {
  xxh64(data: Uint8Array, seed?: bigint): bigint;
}

let xxhash: XxHash | undefined;

/**
 * The 64-bit xxHash (seed 0) of `data`: the fast check of whether bytes changed since a save
 * that recorded it. Never a name and never a verification: SHA-256 names and checks every chunk.
 * NOTE: about 6x faster than SHA-256 here (1 GiB in 1 MiB pieces: 119–199 ms against 851–1078
 * ms, measured); `@node-rs/xxhash`'s xxh3 was slower than its xxh64 in this binding (measured).
 */
export function xxh64(data: Uint8Array): bigint {
  xxhash ??= createRequire(import.meta.url)('@node-rs/xxhash') as XxHash;
  return xxhash.xxh64(data);
}

/** {@link xxh64} as the 16 hex digits a chunk reference's `x` holds. */
export function xxh64Hex(data: Uint8Array): string {
  return xxh64(data).toString(16).padStart(16, '0');
}

/** The form of a chunk reference's `x`: 16 lower-case hex digits. */
export const XXH64_HEX = /^[0-9a-f]{16}$/;
