/**
 * The test tiers of vitest.config.ts: every test file runs in exactly one tier, so `npm run
 * test:fast` plus the slow tiers is the whole suite, and the fast tier starts no cluster or app.
 */
import { globSync } from 'tinyglobby';
import { describe, expect, it } from 'vitest';
import { SLOW_TIERS, tierFiles } from '../vitest.config.js';

describe('test tiers', () => {
  const tiers = ['fast', ...Object.keys(SLOW_TIERS)];

  it('put every test file in exactly one tier', () => {
    const all = globSync('test/**/*.test.ts').sort();
    const placed = tiers.flatMap((tier) => tierFiles(tier));
    expect(placed.sort()).toEqual(all);
    expect(new Set(placed).size).toBe(placed.length);
  });

  it('keep the cluster, the real apps and the torture out of the fast tier', () => {
    const fast = tierFiles('fast');
    expect(fast).toContain('test/store/store.test.ts');
    expect(fast).toContain('test/apps/gromacs-adapter.unit.test.ts');
    expect(fast.filter((f) => /^test\/(slurm|examples)\//.test(f) && !f.endsWith('.unit.test.ts'))).toEqual(
      [],
    );
    for (const file of [
      'test/apps/gromacs.test.ts',
      'test/checkpointer/torture.test.ts',
      'test/slurm/sbatch.test.ts',
    ]) {
      expect(fast).not.toContain(file);
    }
    expect(tierFiles('torture')).toContain('test/supervisor/capture-torture.test.ts');
    expect(tierFiles('processes')).not.toContain('test/supervisor/capture-torture.test.ts');
  });
});
