import { ClosedError, NotFoundError, UsageError } from '../errors.js';
import {
  acquireOrBorrowLease,
  ChunkWriter,
  type Lease,
  type Manifest,
  type PruneResult,
  pruneStore,
  type RetentionPolicy,
  restoreNewest,
  type SaveStats,
  type SkippedCheckpoint,
  Store,
} from '../store/index.js';
import { ChangeCache } from './change-cache.js';
import { DueTracker } from './due.js';
import { type CheckpointerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { SnapshotPool } from './snapshot-pool.js';
import { holdsValue, readValue, splitValue, type ValueParts, writeValueParts } from './value-io.js';

/** What a caller of `save()` / `saveAsync()` tells about the state being saved. */
export interface SaveOptions {
  /** The step this state belongs to (shown by `ckpt ls`, used by `due()` and `keepEvery`). */
  step: number;
  /** Small JSON-serializable facts to record with the checkpoint (loss, epoch…). */
  meta?: Record<string, unknown>;
}

/** What a committed save reports. */
export interface SaveResult {
  seq: number;
  step: number;
  stats: SaveStats;
}

/** What the last `restore()` found. */
export interface RestoreInfo {
  seq: number;
  step: number;
  meta: Record<string, unknown>;
  /** Newer checkpoints that were passed over, newest first, each with the reason. */
  skipped: SkippedCheckpoint[];
}

/** A save that `saveAsync()` has snapshotted and is committing in the background. */
export interface PendingSave {
  /** Resolves when the checkpoint is durable; rejects if the commit failed. */
  committed: Promise<SaveResult>;
}

type CheckpointerState = 'open' | 'saving' | 'closing' | 'closed';

/**
 * Saves and restores a program's state in a verified store. Holds the store's writer lease
 * from open to close. Never prints, never exits.
 */
export class Checkpointer {
  /** The checkpoint the last `restore()` returned, and the newer ones it skipped. */
  lastRestore: RestoreInfo | undefined;
  private state: CheckpointerState = 'open';
  private inflight: Promise<SaveResult> | undefined;
  private readonly cache = new ChangeCache();
  private readonly pool = new SnapshotPool();
  private readonly dueTracker: DueTracker;
  private readonly onSignal = (): void => this.dueTracker.request();

  /** @internal use {@link openCheckpointer} */
  constructor(
    readonly store: Store,
    private readonly readLease: Lease | undefined,
    readonly options: ResolvedOptions,
  ) {
    this.dueTracker = new DueTracker(options.everySteps, options.everyMs);
    if (options.signal) process.on(options.signal, this.onSignal);
  }

  /**
   * Returns the newest checkpointed state that verifies, or `undefined` for a fresh start.
   * Damaged newer checkpoints are skipped; `lastRestore.skipped` says which and why. A corrupt
   * chunk never reaches the caller.
   */
  async restore<T = unknown>(): Promise<T | undefined> {
    this.assertOpen();
    const { manifest, result, skipped } = await restoreNewest(this.store, async (m) =>
      // Files committed by another tool are not ours to load: passed over, not damage.
      holdsValue(m) ? { value: await readValue(this.store.root, m) } : undefined,
    );
    if (manifest && result) {
      this.lastRestore = { seq: manifest.seq, step: manifest.step, meta: manifest.meta, skipped };
      this.dueTracker.restored(manifest.step);
      return result.value as T;
    }
    this.lastRestore = undefined;
    if (skipped.length > 0) {
      // Starting fresh over damaged checkpoints could silently throw away days of work.
      throw new NotFoundError(
        `No checkpoint in ${this.store.root} can be restored: ${skipped.length} checkpoint(s) are damaged (newest: #${skipped[0]?.seq}, ${skipped[0]?.reason}).`,
        {
          hint: `Run \`ckpt verify --deep --store ${this.store.root}\` for details. To start fresh on purpose, move the store away.`,
        },
      );
    }
    return undefined;
  }

  /** True when a save at `step` is due by the `every` policy or because a checkpoint was requested. */
  due(step: number): boolean {
    return this.dueTracker.due(step);
  }

  /**
   * Saves `state` durably and returns when the checkpoint is committed. Large typed arrays are
   * written straight from their memory: do not change them until the promise resolves.
   */
  async save(state: unknown, options: SaveOptions): Promise<SaveResult> {
    this.assertOpen();
    this.lease(); // a read-only checkpointer refuses before anything is written
    validateSaveOptions(options);
    await this.flush();
    const parts = splitValue(state);
    this.dueTracker.saved(options.step);
    return this.track(this.commitParts(parts, options, performance.now()));
  }

  /**
   * Snapshots `state` (copies its arrays) and returns as soon as the copy is done; the commit
   * runs in the background. At most one save is in flight: a second call waits for the first.
   * Until `committed` resolves (or `flush()` returns) the checkpoint may be lost to a crash or
   * power failure; the previous one stays valid.
   */
  async saveAsync(state: unknown, options: SaveOptions): Promise<PendingSave> {
    this.assertOpen();
    this.lease(); // a read-only checkpointer refuses before anything is written
    validateSaveOptions(options);
    await this.flush();
    const startedAt = performance.now();
    const parts = splitValue(state);
    const snapshot = this.pool.snapshot(parts);
    // The state is taken: due() counts from here, not from the end of the background commit.
    this.dueTracker.saved(options.step);
    const committed = this.track(
      this.commitParts(snapshot.parts, options, startedAt).finally(() => this.pool.release(snapshot)),
    );
    committed.catch(() => {}); // reported by flush() / close() too
    return { committed };
  }

  /** Waits for the save in flight, if any; rethrows its failure. */
  async flush(): Promise<void> {
    const pending = this.inflight;
    if (pending) await pending;
  }

  /** Flushes, releases the lease and stops listening for the checkpoint signal. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    try {
      await this.flush();
    } finally {
      if (this.options.signal) process.off(this.options.signal, this.onSignal);
      await this.readLease?.release();
      this.pool.clear();
      this.state = 'closed';
    }
  }

  /**
   * Deletes checkpoints beyond the retention policy (default: the one given at open) and the
   * chunks only they used. Runs after every save; call it to free space after a full disk.
   */
  async prune(policy?: RetentionPolicy): Promise<PruneResult> {
    this.assertOpen();
    await this.flush();
    return this.applyRetention(policy);
  }

  private async applyRetention(policy?: RetentionPolicy): Promise<PruneResult> {
    const resolved = policy ?? {
      keepLast: this.options.keep,
      ...(this.options.keepEvery ? { keepEvery: this.options.keepEvery } : {}),
    };
    const { removed, freedChunks } = await pruneStore(this.store, this.lease(), resolved);
    return { removed, freedChunks };
  }

  /** The writer lease; a checkpointer opened `readOnly` has none. */
  private lease(): Lease {
    if (this.readLease) return this.readLease;
    throw new UsageError(
      `This checkpointer of ${this.store.root} was opened read-only: it can restore, not save or prune.`,
      {
        hint: "Open it without `readOnly: true` to save (that takes the store's writer lease).",
      },
    );
  }

  private track(save: Promise<SaveResult>): Promise<SaveResult> {
    this.state = 'saving';
    const tracked = save.finally(() => {
      if (this.inflight === tracked) {
        this.inflight = undefined;
        if (this.state === 'saving') this.state = 'open';
      }
    });
    this.inflight = tracked;
    return tracked;
  }

  private async commitParts(parts: ValueParts, options: SaveOptions, startedAt: number): Promise<SaveResult> {
    let manifest: Manifest;
    const writer = new ChunkWriter(this.store.root, this.options.compression, {
      index: await this.store.chunkIndex(),
    });
    try {
      const entries = await writeValueParts(writer, parts, this.cache);
      const stats = await writer.finish();
      manifest = await this.store.commit(this.lease(), {
        step: options.step,
        entries,
        meta: options.meta ?? {},
        stats,
        startedAt,
      });
    } catch (error) {
      this.cache.abandon();
      // Lets the writes still in flight end before the error goes up.
      await writer.finish().catch(() => {});
      throw error;
    }
    this.cache.commit();
    await this.applyRetention();
    return { seq: manifest.seq, step: manifest.step, stats: manifest.stats };
  }

  private assertOpen(): void {
    if (this.state === 'closed' || this.state === 'closing') {
      throw new ClosedError('This checkpointer is closed.', {
        hint: 'Open a new one with openCheckpointer().',
      });
    }
  }
}

/** Throws {@link UsageError} for a step that is not a finite number or meta that is not plain JSON. */
function validateSaveOptions(options: SaveOptions): void {
  if (typeof options?.step !== 'number' || !Number.isFinite(options.step)) {
    throw new UsageError(`Expected \`step\` to be a finite number, got \`${String(options?.step)}\`.`, {
      hint: 'Pass the loop counter: ck.save(state, { step }).',
    });
  }
  if (options.meta !== undefined) {
    let text: string | undefined;
    try {
      text = JSON.stringify(options.meta);
    } catch (error) {
      throw new UsageError(`Expected \`meta\` to be JSON-serializable: ${(error as Error).message}.`, {
        cause: error,
      });
    }
    if (
      text === undefined ||
      typeof options.meta !== 'object' ||
      options.meta === null ||
      Array.isArray(options.meta)
    ) {
      throw new UsageError('Expected `meta` to be a plain object of JSON values.');
    }
  }
}

/**
 * Opens (creating if needed) the store and takes its writer lease.
 * Throws {@link LockedError} if another live process writes to it, {@link UsageError} for bad options.
 */
export async function openCheckpointer(options: CheckpointerOptions = {}): Promise<Checkpointer> {
  const resolved = resolveOptions(options);
  if (resolved.readOnly) return new Checkpointer(await Store.open(resolved.dir), undefined, resolved);
  const store = await Store.open(resolved.dir, { create: true });
  const lease = await acquireOrBorrowLease(store.root, process.env, resolved.holderProbe);
  return new Checkpointer(store, lease, resolved);
}
