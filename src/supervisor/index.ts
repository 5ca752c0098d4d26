export type { AppBehavior, CapturePlan, ExitMeaning } from './app-behavior.js';
export { formatDurationSpec, parseDuration } from './duration.js';
export type { AfterStop, StopReason, SupervisorHooks } from './hooks.js';
export {
  type JobState,
  type JobStatus,
  type JobStatusOptions,
  readJobStatus,
  type Segment,
} from './job-status.js';
export { describeStop, type ProgramExit, type RunOutcome, shellStatus } from './outcome.js';
export { handlesSignal, processesInGroup, signalGroup, waitGroupGone } from './process-group.js';
export type { SupervisorDeps } from './run-context.js';
export {
  DEFAULT_BACKOFF_MS,
  DEFAULT_GRACE_MS,
  DEFAULT_KILL_GRACE_MS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_SETTLE_MS,
  DEFAULT_SIGNAL,
  parseStepSource,
  type RunOptions,
  type StepSource,
} from './run-options.js';
export { FORWARDED_SIGNALS, STOP_SIGNALS } from './signal-router.js';
export { Supervisor, type SupervisorState } from './supervisor.js';
