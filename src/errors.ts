/**
 * Every error ckpt throws is a {@link CkptError} with a stable `code`, a message that names the
 * thing and the value, and a `hint` that says the fix. The CLI maps codes to exit codes.
 */
export type CkptErrorCode =
  | 'CKPT_USAGE'
  | 'CKPT_NO_STORE'
  | 'CKPT_NOT_FOUND'
  | 'CKPT_LOCKED'
  | 'CKPT_FENCED'
  | 'CKPT_INTEGRITY'
  | 'CKPT_FORMAT'
  | 'CKPT_UNSAFE_PATH'
  | 'CKPT_UNSUPPORTED_VALUE'
  | 'CKPT_NO_SPACE'
  | 'CKPT_IO'
  | 'CKPT_CLOSED'
  | 'CKPT_INCOMPLETE';

/** What a {@link CkptError} may carry beside its message: a hint how to fix it, and its cause. */
export interface CkptErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
}

/** Base class of every error ckpt throws. */
export class CkptError extends Error {
  readonly code: CkptErrorCode;
  readonly hint: string | undefined;

  constructor(code: CkptErrorCode, message: string, options: CkptErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** Thrown for a wrong flag, option or argument. */
export class UsageError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_USAGE', message, options);
  }
}

/** Thrown when a store directory does not exist (and creation was not asked for) or is not a store. */
export class NoStoreError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_NO_STORE', message, options);
  }
}

/** Thrown when a named checkpoint does not exist, or a store holds no valid checkpoint. */
export class NotFoundError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_NOT_FOUND', message, options);
  }
}

/** Thrown when another live process holds the store's writer lease. */
export class LockedError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_LOCKED', message, options);
  }
}

/** Thrown at commit when this writer's lease was taken over: it must not write any more. */
export class FencedError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_FENCED', message, options);
  }
}

/** Thrown when stored bytes do not match their recorded hash or size (bit rot, truncation). */
export class IntegrityError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_INTEGRITY', message, options);
  }
}

/** Thrown for a malformed manifest or one written by a newer format version. */
export class FormatError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_FORMAT', message, options);
  }
}

/** Thrown on restore when a manifest names a path that would leave the target directory. */
export class UnsafePathError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_UNSAFE_PATH', message, options);
  }
}

/**
 * Thrown on restore when something already in the target directory is in the way (a symlink
 * where a directory belongs). Not the checkpoint's fault: restore does not fall back for it.
 */
export class TargetPathError extends UnsafePathError {}

/** Thrown when a JavaScript value cannot be stored without running code on load (functions, class instances…). */
export class UnsupportedValueError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_UNSUPPORTED_VALUE', message, options);
  }
}

/** Thrown when the file system is full or over quota. Earlier checkpoints are untouched. */
export class NoSpaceError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_NO_SPACE', message, options);
  }
}

/** Thrown for other file-system failures, with the path and the system error as cause. */
export class IoError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_IO', message, options);
  }
}

/** Thrown when a closed checkpointer or store is used. */
export class ClosedError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_CLOSED', message, options);
  }
}

/**
 * Thrown by a multi-rank commit that committed nothing: a rank's part did not come in time, or
 * could not be used, or rank 0 aborted the round. No checkpoint is half there.
 */
export class IncompleteCommitError extends CkptError {
  constructor(message: string, options: CkptErrorOptions = {}) {
    super('CKPT_INCOMPLETE', message, options);
  }
}

/** `ENOENT` and friends, without `any`. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const { code } = error as { code: unknown };
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/**
 * Wraps a system error from an operation on `path` in the right CkptError: ENOSPC/EDQUOT become
 * {@link NoSpaceError}, everything else {@link IoError}. CkptErrors pass through unchanged.
 */
export function wrapIoError(error: unknown, action: string, path: string): CkptError {
  if (error instanceof CkptError) return error;
  const code = errnoCode(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new NoSpaceError(`No space left while ${action} \`${path}\` (${code}).`, {
      hint: 'Free space on that file system, or prune old checkpoints with `ckpt prune --keep N` then `ckpt gc`. Checkpoints committed earlier are intact.',
      cause: error,
    });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new IoError(`Failed ${action} \`${path}\`: ${detail}`, {
    hint: code === 'EACCES' || code === 'EPERM' ? 'Check the permissions of that path.' : undefined,
    cause: error,
  });
}
