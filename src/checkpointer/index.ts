export {
  Checkpointer,
  type PendingSave,
  type RestoreInfo,
  type SaveOptions,
  type SaveResult,
  openCheckpointer,
} from './checkpointer.js';
export { type CheckpointerOptions, DEFAULT_STORE_DIR, type DuePolicy } from './options.js';
