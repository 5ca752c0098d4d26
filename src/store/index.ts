export { applyPrunePlan, type PruneResult, pruneStore } from './apply-prune-plan.js';
export { DIR_MODE, FILE_MODE, fsyncDir, writeFileAtomic } from './atomic-write.js';
export { FileChangedError, type FileIdentity } from './capture-files.js';
export type { CheckpointHealth, SkippedCheckpoint } from './checkpoint-health.js';
export { allocateEntry, type ChunkRef, DEFAULT_IO_CONCURRENCY } from './chunk-read.js';
export { ChunkWriter } from './chunk-store.js';
export { FIXED_CHUNK_SIZE, fixedChunkSizeFor, fixedChunks } from './chunker.js';
export { type CommitFilesOptions, commitFiles } from './commit-files.js';
export { type CompressionMode, DEFAULT_COMPRESSION, zstdAvailable } from './compress.js';
export { xxh64 } from './fast-hash.js';
export { applyGcPlan, type GcOptions, type GcPlan, planGc } from './gc.js';
export { entryHash, sha256Hex } from './hash.js';
export {
  appendJournal,
  type JournalEvent,
  type JournalReadResult,
  noteJournal,
  readJournal,
} from './journal.js';
export {
  type JournalEventName,
  type JournalEventOf,
  type JournalPayload,
  journalEventsOf,
  type KnownJournalEvent,
  knownJournalEvent,
  knownJournalEvents,
  type RawJournalEvent,
} from './journal-events.js';
export { manifestPath, STORE_FORMAT_VERSION, STORE_ID_FILE } from './layout.js';
export {
  acquireLease,
  acquireOrBorrowLease,
  breakLease,
  type HolderProbe,
  type HolderState,
  holderState,
  LEASE_TOKEN_ENV,
  Lease,
  type LeaseRecord,
  readLease,
} from './lease.js';
export type {
  BlobEntry,
  ChunkedEntry,
  DirEntry,
  Entry,
  FileEntry,
  Manifest,
  SaveStats,
  SlurmInfo,
  SymlinkEntry,
  WriterInfo,
} from './manifest.js';
export { manifestChunks } from './manifest.js';
export { type MaterializeResult, materializeFiles } from './materialize.js';
export { readChunks } from './pack-read.js';
export { RESERVED_PREFIX, storedPathUnder } from './paths.js';
export {
  DEFAULT_KEEP,
  type PruneCandidate,
  type PrunePlan,
  planPrune,
  type RetentionPolicy,
  validatePolicy,
} from './plan-prune.js';
export {
  hasExited,
  liveThreadOf,
  type ProcessStat,
  processStartTime,
  readProcessStat,
} from './process-stat.js';
export {
  commitRankFiles,
  DEFAULT_RANK_TIMEOUT_MS,
  type RankCommitOptions,
  type RankCommitResult,
  roundsInFlight,
} from './rank-commit.js';
export { RANK_VARIABLES, RANKS_VARIABLES, type RankFlags, resolveRank, resolveSession } from './rank-env.js';
export type { RankRound } from './rank-parts.js';
export { entriesToRestore, type RankChoice } from './rank-view.js';
export { isCheckpointFault, type RestoreOutcome, restoreNewest } from './restore-newest.js';
export { describeKind } from './safe-fs.js';
export { parseRestartCount, parseSlurmEnv, type SlurmEnv } from './slurm-env.js';
export { type OpenStoreOptions, type ScannedCheckpoint, Store, type StoreWarning } from './store.js';
export { type CheckpointVerdict, type VerifyOptions, type VerifyReport, verifyStore } from './verify.js';
export { currentWriter, describeWriter } from './writer-info.js';
