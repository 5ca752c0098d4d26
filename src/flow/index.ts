export { type AssessContext, assessFlow, type RunReason, type TaskAssessment } from './assess.js';
export { describeAssessment, describeChange, describeReason } from './describe.js';
export { buildTaskGraph, type FlowTask, type TaskGraph } from './expand-tasks.js';
export { FileHasher, RACY_WINDOW_NS } from './file-hash.js';
export { FlowFileError } from './flow-errors.js';
export { type FlowLayout, flowLayout } from './flow-layout.js';
export { type FlowStatus, readFlowStatus, type TaskStatus, type TaskStatusRow } from './flow-status.js';
export { type GraphFormat, renderGraph } from './graph-text.js';
export { loadWorkflow } from './load-workflow.js';
export { parseWorkflowText } from './parse-workflow.js';
export { readRecords, recordsByTask, type StoredRecord, type TaskRecord } from './records.js';
export {
  DEFAULT_JOBS,
  type FlowEvent,
  type RunFlowOptions,
  type RunFlowResult,
  runFlow,
} from './run-flow.js';
export { runTaskWrapper, type TaskSpec, WRAPPER_ABORTED } from './run-task.js';
export { diffComponents, type KeyComponent } from './task-key.js';
export { DEFAULT_FLOW_DIR, DEFAULT_FLOW_FILE, type FlowStep, type Workflow } from './workflow.js';
