import { UsageError } from '../errors.js';

/**
 * Thrown for a workflow file that cannot be run as written: bad YAML, an unknown field, a wrong
 * type, a cycle, an unknown `needs`, a `{var}` no `for_each` defines, two tasks writing one
 * output. The message names the file, the step and the field, shows the value, and the hint says
 * the fix. A usage error: the CLI exits 2 without a stack.
 */
export class FlowFileError extends UsageError {}

/** Where in the workflow file a problem is: the step (if any) and the field path. */
export interface FlowPlace {
  file: string;
  step?: string | undefined;
  field?: string | undefined;
}

/** Builds every {@link FlowFileError}: `ckpt-flow.yaml: step \`gen\`, field \`needs\`: …`. */
export function flowError(place: FlowPlace, problem: string, hint?: string): FlowFileError {
  const where = [
    place.step === undefined ? undefined : `step \`${place.step}\``,
    place.field === undefined ? undefined : `field \`${place.field}\``,
  ]
    .filter((part) => part !== undefined)
    .join(', ');
  return new FlowFileError(`${place.file}: ${where ? `${where}: ` : ''}${problem}`, { hint });
}

/** `\`x\`` for a value in a message: strings as they are, anything else as JSON. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return `\`${value}\``;
  if (value === undefined) return 'nothing';
  return `\`${JSON.stringify(value)}\``;
}

/** `a string`, `a list`, `a map`… for "expected X, got Y". */
export function describeType(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}
