import { UsageError } from '../errors.js';
import { type CompressionMode, DEFAULT_COMPRESSION, DEFAULT_KEEP, type HolderProbe } from '../store/index.js';

/** Where a store lives when nothing says otherwise. */
export const DEFAULT_STORE_DIR = '.ckpt';

/** When `due()` says a save is due; either bound (or both) may be set. */
export interface DuePolicy {
  /** Due when this many steps have passed since the last save. */
  steps?: number;
  /** Due when this many seconds have passed since the last save (or since open). */
  seconds?: number;
}

/** Options of {@link openCheckpointer}. Every field is optional. */
export interface CheckpointerOptions {
  /** Store directory. Default: `$CKPT_STORE`, else `./.ckpt`. */
  dir?: string;
  /** Keep the newest N checkpoints (default {@link DEFAULT_KEEP}); older ones and their chunks are deleted after each save. */
  keep?: number;
  /** Also keep every checkpoint whose step is a multiple of K. */
  keepEvery?: number;
  /** When `due()` says yes. Default: never by itself (only on a requested signal). */
  every?: DuePolicy;
  /** `auto` (default): zstd where it pays; `off`: raw chunks only. */
  compression?: CompressionMode;
  /**
   * Signal that asks for a checkpoint (makes `due()` true). Default: `$CKPT_SIGNAL` when run
   * under `ckpt run`, else none. `false` disables.
   */
  signal?: NodeJS.Signals | false;
  /**
   * Open only to restore (default false): no writer lease is taken, so a store that another job
   * holds, or that is read-only, can still be loaded; `save()` and `prune()` then throw.
   */
  readOnly?: boolean;
  /**
   * Asked whether the holder of the store's lease still runs, before refusing to open (the
   * store's `holderState`). The package's `openCheckpointer` passes SLURM's probe (a requeued
   * job's stale copy is taken over, as under `ckpt run`); this layer's default is none.
   */
  holderProbe?: HolderProbe;
}

/** Options after defaults are applied: nothing downstream handles `undefined`. */
export interface ResolvedOptions {
  dir: string;
  keep: number;
  keepEvery: number | undefined;
  everySteps: number | undefined;
  everyMs: number | undefined;
  compression: CompressionMode;
  signal: NodeJS.Signals | undefined;
  readOnly: boolean;
  holderProbe: HolderProbe | undefined;
}

/**
 * Checks the caller's options and fills in the defaults (and `CKPT_*` variables from `env`);
 * a bad value is a UsageError naming the option and the value.
 */
export function resolveOptions(
  options: CheckpointerOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  const positive = (name: string, value: number | undefined, integer: boolean): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !(value > 0) || (integer && !Number.isSafeInteger(value))) {
      throw new UsageError(
        `Expected \`${name}\` to be a positive ${integer ? 'integer' : 'number'}, got \`${String(value)}\`.`,
      );
    }
    return value;
  };
  const compression = options.compression ?? DEFAULT_COMPRESSION;
  if (compression !== 'auto' && compression !== 'off') {
    throw new UsageError(`Expected \`compression\` to be 'auto' or 'off', got \`${String(compression)}\`.`);
  }
  const seconds = positive('every.seconds', options.every?.seconds, false);
  const envSignal = env.CKPT_SIGNAL as NodeJS.Signals | undefined;
  return {
    dir: options.dir ?? env.CKPT_STORE ?? DEFAULT_STORE_DIR,
    keep: positive('keep', options.keep, true) ?? DEFAULT_KEEP,
    keepEvery: positive('keepEvery', options.keepEvery, true),
    everySteps: positive('every.steps', options.every?.steps, true),
    everyMs: seconds === undefined ? undefined : seconds * 1000,
    compression,
    signal: options.signal === false ? undefined : (options.signal ?? (envSignal || undefined)),
    readOnly: options.readOnly === true,
    holderProbe: options.holderProbe,
  };
}
