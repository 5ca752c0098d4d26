export {
  Checkpointer,
  openCheckpointer,
  type PendingSave,
  type RestoreInfo,
  type SaveOptions,
  type SaveResult,
} from './checkpointer.js';
export { type CheckpointerOptions, DEFAULT_STORE_DIR, type DuePolicy } from './options.js';
