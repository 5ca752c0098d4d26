import type { RunReason, TaskAssessment } from './assess.js';
import type { ComponentChange } from './task-key.js';

const short = (hash: string | null | undefined): string =>
  hash === undefined
    ? '(none)'
    : hash === null
      ? '(not known until upstream runs)'
      : hash === 'unset'
        ? '(unset)'
        : hash.slice(0, 12);

/** `input data/2.txt: 3f2a9c01b7e4 → 9d81c2aa0f13`, and the like. */
export function describeChange(c: ComponentChange): string {
  const what =
    c.kind === 'command'
      ? 'command'
      : c.kind === 'upstream'
        ? `upstream ${c.name} key`
        : `${c.kind} ${c.name}`;
  if (c.old === undefined) return `${what}: new (${short(c.new)})`;
  if (c.new === undefined) return `${what}: no longer used (was ${short(c.old)})`;
  return `${what}: ${short(c.old)} → ${short(c.new)}`;
}

/** One line per reason. */
export function describeReason(r: RunReason): string[] {
  switch (r.type) {
    case 'never-ran':
      return ['it never ran'];
    case 'failed':
      return [`its last attempt failed: ${r.error}`];
    case 'output-changed':
      return [
        r.new === null
          ? `output ${r.path} is gone (recorded ${short(r.old)})`
          : `output ${r.path} changed since its record: ${short(r.old)} → ${short(r.new)}`,
      ];
    case 'upstream-runs':
      return [`upstream ${r.tasks.join(', ')} ${r.tasks.length > 1 ? 'have' : 'has'} to run first`];
    case 'upstream-blocked':
      return [`upstream ${r.tasks.join(', ')} cannot run`];
    case 'changed':
      return r.changes.map(describeChange);
  }
}

/** What a plan says of one task. */
export function describeAssessment(a: TaskAssessment): string[] {
  if (a.verdict === 'done') return [`up to date (key ${short(a.key)}, record #${a.record!.seq})`];
  if (a.verdict === 'blocked') {
    return a.missing.length > 0
      ? [`cannot run: input ${a.missing.join(', ')} does not exist and no step writes it`]
      : a.reasons.flatMap(describeReason).map((line) => `cannot run: ${line}`);
  }
  return a.reasons.flatMap(describeReason);
}
