export {
  anchorCommand,
  arrayOption,
  DEFAULT_TASK_DIR,
  differsPerTask,
  shellPathPattern,
} from './array-job.js';
export { classifyTermination, INTERRUPTION_TEXT, type Interruption } from './classify.js';
export { leadTimeMs, measuredCheckpointMs, SLURM_JITTER_MS } from './deadline.js';
export { createSlurmHolderProbe } from './holder-probe.js';
export {
  endTimeOf,
  expandJobPattern,
  hasJobPattern,
  killWaitMs,
  listJobs,
  maxArraySize,
  parseJobList,
  parseJobRecord,
  type QueuedJob,
  requeueJob,
  type SlurmJob,
  showJob,
  slurmJobFromEnv,
} from './job.js';
export {
  type BatchScriptInput,
  buildBatchScript,
  chooseLeadSeconds,
  parseSlurmTime,
  shellQuote,
} from './sbatch-script.js';
export {
  createSlurmHooks,
  DEFAULT_MAX_REQUEUES,
  DEFAULT_WARNING_SIGNAL,
  type SlurmHooksOptions,
} from './slurm-hooks.js';
export { parseSbatchOutput, type SubmitBatchOptions, submitBatch } from './submit-batch.js';
