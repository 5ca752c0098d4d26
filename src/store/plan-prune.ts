import { UsageError } from '../errors.js';
import type { Manifest } from './manifest.js';

/**
 * One checkpoint as retention sees it: its manifest when that parses, and why it cannot be
 * restored when it cannot. Both {@link Store.scan} and {@link Store.health} results fit; use
 * `health({ deepFirst: true })` so that a checkpoint counts only when it would really restore.
 */
export interface PruneCandidate {
  seq: number;
  manifest?: Manifest | undefined;
  problem?: string | undefined;
  /** Written by a newer ckpt: never removed. */
  newer?: boolean | undefined;
}

/** Retention policy. At least one of the two must be set. */
export interface RetentionPolicy {
  /** Keep the newest N valid checkpoints. */
  keepLast?: number;
  /** Also keep every checkpoint whose step is a multiple of K. */
  keepEvery?: number;
}

/** Which checkpoints a retention policy keeps, and which it removes with the reason. */
export interface PrunePlan {
  keep: number[];
  remove: Array<{ seq: number; why: string }>;
}

/** Default number of checkpoints the library keeps. */
export const DEFAULT_KEEP = 3;

/**
 * Decides which checkpoints to delete; pure (see `applyPrunePlan`). The newest valid checkpoint
 * is always kept, and only valid checkpoints count towards `keepLast`. Damaged checkpoints older
 * than the newest valid one are removed (restore would never pick them); damaged ones newer than
 * it are kept as evidence for `ckpt why`. When none is valid, nothing is removed. Checkpoints
 * written by a newer ckpt version are never removed.
 */
export function planPrune(checkpoints: readonly PruneCandidate[], policy: RetentionPolicy): PrunePlan {
  validatePolicy(policy);
  const newestFirst = [...checkpoints].sort((a, b) => b.seq - a.seq);
  const isValid = (c: PruneCandidate): c is PruneCandidate & { manifest: Manifest } =>
    c.manifest !== undefined && c.problem === undefined;
  const newestValid = newestFirst.find(isValid)?.seq ?? Number.POSITIVE_INFINITY;
  const plan: PrunePlan = { keep: [], remove: [] };
  let validSeen = 0;
  for (const c of newestFirst) {
    if (!isValid(c)) {
      if (c.seq > newestValid || c.newer) plan.keep.push(c.seq);
      else plan.remove.push({ seq: c.seq, why: `damaged: ${c.problem ?? 'unreadable'}` });
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
