import { promises as fsp } from 'node:fs';
import { resolve } from 'node:path';
import { errnoCode, wrapIoError } from '../errors.js';
import { buildTaskGraph, type TaskGraph } from './expand-tasks.js';
import { FlowFileError } from './flow-errors.js';
import { parseWorkflowText } from './parse-workflow.js';
import { DEFAULT_FLOW_FILE } from './workflow.js';

/**
 * Reads, parses and checks a workflow file (default `ckpt-flow.yaml` in the working directory)
 * and expands its tasks. Throws {@link FlowFileError} for a missing or invalid file.
 */
export async function loadWorkflow(file: string = DEFAULT_FLOW_FILE): Promise<TaskGraph> {
  const path = resolve(file);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new FlowFileError(`No workflow file at \`${path}\`.`, {
        hint: `Run in the directory of your ${DEFAULT_FLOW_FILE}, or name the file: \`ckpt flow run path/to/flow.yaml\`. docs/flow.md describes the format.`,
      });
    }
    throw wrapIoError(error, 'reading workflow file', path);
  }
  return buildTaskGraph(parseWorkflowText(text, file));
}
