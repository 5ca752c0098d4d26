import { xxh64 } from '../store/index.js';

/**
 * Remembers, per chunk position, a fast 64-bit xxHash of the bytes saved last time together with
 * their SHA-256. A chunk whose position, length and xxHash are unchanged reuses the SHA-256
 * without rehashing (the chunk is then a dedup no-op).
 *
 * NOTE: xxh64 runs at ~6.7 GB/s here against SHA-256's ~1.3 GB/s, which is what makes an
 * incremental save of a large array cheap. A false "unchanged" needs a 64-bit collision between
 * the old and new bytes of one chunk position in consecutive saves (odds ~2^-64 per chunk).
 * SHA-256 still names every chunk that differs and checks everything read back. The cache lives
 * in memory only: the first save of a process hashes everything.
 */
export class ChangeCache {
  private previous = new Map<string, { fast: bigint; sha: string }>();
  private current = new Map<string, { fast: bigint; sha: string }>();

  /** The SHA-256 of `data` at `position` if it is unchanged since the last committed save. */
  lookup(position: string, data: Uint8Array): { knownHash: string | undefined; fast: bigint } {
    const fast = xxh64(data);
    const before = this.previous.get(position);
    return { knownHash: before && before.fast === fast ? before.sha : undefined, fast };
  }

  /** Records what this save stored at `position`. */
  record(position: string, fast: bigint, sha: string): void {
    this.current.set(position, { fast, sha });
  }

  /** The save committed: its chunks become the reference for the next one. */
  commit(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  /** The save failed: forget what it recorded. */
  abandon(): void {
    this.current = new Map();
  }
}
