import { chunkHome } from './chunk-read.js';
import { removeChunkFile } from './chunk-store.js';
import { noteJournal } from './journal.js';
import type { Lease } from './lease.js';
import { type Manifest, manifestChunks } from './manifest.js';
import { type PruneCandidate, type PrunePlan, planPrune, type RetentionPolicy } from './plan-prune.js';
import { listStagedRounds } from './rank-parts.js';
import type { Store } from './store.js';

/** What a prune removed: the checkpoints, and how many packs or chunk files it freed with them. */
export interface PruneResult {
  removed: number[];
  freedChunks: number;
}

/**
 * Carries out a {@link PrunePlan} made from `scanned`: removes the manifests it drops, then exactly
 * the chunks that only they referenced (no directory scan). A crash in between leaves only
 * unreferenced chunks, which `ckpt gc` removes. Needs the lease.
 */
export async function applyPrunePlan(
  store: Store,
  lease: Lease,
  scanned: readonly PruneCandidate[],
  plan: PrunePlan,
): Promise<PruneResult> {
  if (plan.remove.length === 0) return { removed: [], freedChunks: 0 };
  await lease.assertHeld();
  const removedSeqs = new Set(plan.remove.map((r) => r.seq));
  const kept = new Set<string>();
  const dropped: Manifest[] = [];
  for (const item of scanned) {
    if (!item.manifest) continue;
    if (removedSeqs.has(item.seq)) dropped.push(item.manifest);
    else for (const ref of manifestChunks(item.manifest)) kept.add(chunkHome(ref));
  }
  // A multi-rank commit in flight may reuse a chunk of a checkpoint pruned now.
  for (const round of await listStagedRounds(store.root))
    for (const ref of round.chunks) kept.add(chunkHome(ref));
  await store.removeManifests(removedSeqs);
  // The chunks of a newer-format or unreadable manifest are unknown: free nothing, gc decides.
  if (scanned.some((item) => !item.manifest && !removedSeqs.has(item.seq))) {
    await noteJournal(store, 'prune', { removed: [...removedSeqs], freedChunks: 0 });
    return { removed: [...removedSeqs], freedChunks: 0 };
  }
  let freedChunks = 0;
  const freed = new Set<string>();
  for (const manifest of dropped) {
    for (const ref of manifestChunks(manifest)) {
      // A pack goes only when no kept checkpoint names any chunk in it.
      const home = chunkHome(ref);
      if (kept.has(home) || freed.has(home)) continue;
      freed.add(home);
      // Inside a shard that is a real directory; rm removes a planted link, never its target.
      await removeChunkFile(store.root, ref);
      freedChunks++;
    }
  }
  await noteJournal(store, 'prune', { removed: [...removedSeqs], freedChunks });
  return { removed: [...removedSeqs], freedChunks };
}

/**
 * Applies a retention policy, the one way every caller prunes: plans over the store's health (the
 * newest checkpoints are hashed until one verifies, so a damaged newest one never counts towards
 * `keepLast` and the newest one that restores is always kept), then removes what the plan drops.
 * Needs the lease, held from before the plan so no save commits in between; with `'dry-run'` it
 * only plans and removes nothing. Throws {@link UsageError} for a policy that keeps nothing.
 */
export async function pruneStore(
  store: Store,
  lease: Lease | 'dry-run',
  policy: RetentionPolicy,
): Promise<PruneResult & { plan: PrunePlan }> {
  const health = await store.health({ deepFirst: true });
  const plan = planPrune(health, policy);
  if (lease === 'dry-run') return { removed: [], freedChunks: 0, plan };
  return { ...(await applyPrunePlan(store, lease, health, plan)), plan };
}
