export { type FileSummary, type Inspection, inspectCheckpoint, MAX_HEADS } from './inspect-checkpoint.js';
export { type ArrayStats, arrayStats, parsePath, select, summarize, type ValueNode } from './summarize.js';
export { type ArrayChange, diffValues, type ValueChange, type ValueDiff } from './value-diff.js';
