import { UsageError } from '../errors.js';
import type { ScannedCheckpoint } from './store.js';

/** Retention policy. At least one of the two must be set. */
export interface RetentionPolicy {
  /** Keep the newest N valid checkpoints. */
  keepLast?: number;
  /** Also keep every checkpoint whose step is a multiple of K. */
  keepEvery?: number;
}

export interface PrunePlan {
  keep: number[];
  remove: Array<{ seq: number; why: string }>;
}

/** Default number of checkpoints the library keeps. */
export const DEFAULT_KEEP = 3;

/**
 * Decides which checkpoints to delete; pure (see `applyPrunePlan`). The newest valid checkpoint
 * is always kept. Damaged checkpoints older than it are removed (restore would never pick them);
 * damaged ones newer than it are kept as evidence for `ckpt why`. Checkpoints written by a
 * newer ckpt version are never removed.
 */
export function planPrune(checkpoints: readonly ScannedCheckpoint[], policy: RetentionPolicy): PrunePlan {
  validatePolicy(policy);
  const newestFirst = [...checkpoints].sort((a, b) => b.seq - a.seq);
  const newestValid = newestFirst.find((c) => 'manifest' in c)?.seq ?? Number.POSITIVE_INFINITY;
  const plan: PrunePlan = { keep: [], remove: [] };
  let validSeen = 0;
  for (const c of newestFirst) {
    if (!('manifest' in c)) {
      if (c.seq > newestValid || c.newer) plan.keep.push(c.seq);
      else plan.remove.push({ seq: c.seq, why: `damaged: ${c.problem}` });
      continue;
    }
    validSeen++;
    const inLast = validSeen <= (policy.keepLast ?? 0) || c.seq === newestValid;
    const onEvery = policy.keepEvery !== undefined && c.manifest.step % policy.keepEvery === 0;
    if (inLast || onEvery) plan.keep.push(c.seq);
    else plan.remove.push({ seq: c.seq, why: describeWhy(policy) });
  }
  plan.keep.reverse();
  plan.remove.reverse();
  return plan;
}

function describeWhy(policy: RetentionPolicy): string {
  const parts = [];
  if (policy.keepLast !== undefined) parts.push(`not among the newest ${policy.keepLast}`);
  if (policy.keepEvery !== undefined) parts.push(`step not a multiple of ${policy.keepEvery}`);
  return parts.join(', ');
}

/** Throws {@link UsageError} unless the policy keeps something and its numbers are positive integers. */
export function validatePolicy(policy: RetentionPolicy): void {
  for (const [name, value] of Object.entries(policy)) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      const flag = name === 'keepLast' ? '--keep' : '--keep-every';
      throw new UsageError(`Expected \`${flag}\` to be a positive integer, got \`${String(value)}\`.`);
    }
  }
  if (policy.keepLast === undefined && policy.keepEvery === undefined) {
    throw new UsageError('A retention policy needs `--keep N` and/or `--keep-every K`.');
  }
}
