import type { ValueParts } from './value-io.js';

/** A copy of a value's arrays, owned by one background save. */
export interface Snapshot {
  parts: ValueParts;
  buffers: ArrayBuffer[];
}

/**
 * Copies the arrays of a value for `saveAsync`, reusing the buffers of the previous snapshot.
 * NOTE: a fresh 1 GiB allocation costs ~10× the copy itself here (page faults on first touch),
 * so steady-state periodic saves reuse last time's buffers and pay only the memcpy.
 */
export class SnapshotPool {
  private free = new Map<number, ArrayBuffer[]>();

  snapshot(parts: ValueParts): Snapshot {
    const buffers: ArrayBuffer[] = [];
    const blobs = parts.blobs.map(({ key, bytes }) => {
      const buffer = this.take(bytes.byteLength);
      const copy = new Uint8Array(buffer, 0, bytes.byteLength);
      copy.set(bytes);
      buffers.push(buffer);
      return { key, bytes: copy };
    });
    return { parts: { doc: parts.doc, blobs }, buffers };
  }

  /** Returns a finished snapshot's buffers for reuse; only the last set is kept. */
  release(snapshot: Snapshot): void {
    this.free = new Map();
    for (const buffer of snapshot.buffers) {
      const list = this.free.get(buffer.byteLength) ?? [];
      list.push(buffer);
      this.free.set(buffer.byteLength, list);
    }
  }

  clear(): void {
    this.free = new Map();
  }

  private take(byteLength: number): ArrayBuffer {
    return this.free.get(byteLength)?.pop() ?? new ArrayBuffer(byteLength);
  }
}
