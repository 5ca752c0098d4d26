/**
 * ckpt — verified checkpoints and automatic resume for long-running jobs.
 * The public API, by name. See docs/ for the store format and the protocol.
 */
export {
  Checkpointer,
  type CheckpointerOptions,
  DEFAULT_STORE_DIR,
  type DuePolicy,
  type PendingSave,
  type RestoreInfo,
  type SaveOptions,
  type SaveResult,
} from './checkpointer/index.js';
export { type CommitRankOptions, commitRank } from './commit-rank.js';
export {
  CkptError,
  type CkptErrorCode,
  ClosedError,
  FencedError,
  FormatError,
  IncompleteCommitError,
  IntegrityError,
  IoError,
  LockedError,
  NoSpaceError,
  NoStoreError,
  NotFoundError,
  UnsafePathError,
  UnsupportedValueError,
  UsageError,
} from './errors.js';
export {
  type FlowEvent,
  FlowFileError,
  type FlowStatus,
  loadWorkflow,
  type RunFlowOptions,
  type RunFlowResult,
  readFlowStatus,
  runFlow,
  type TaskGraph,
  type TaskRecord,
} from './flow/index.js';
export { openCheckpointer } from './open-checkpointer.js';
export { decodeValue, encodeValue, VALUE_ENCODING } from './state/index.js';
export {
  DEFAULT_KEEP,
  entriesToRestore,
  type Manifest,
  type RankChoice,
  type RankCommitResult,
  type RetentionPolicy,
  STORE_FORMAT_VERSION,
  Store,
  type VerifyReport,
  verifyStore,
} from './store/index.js';
