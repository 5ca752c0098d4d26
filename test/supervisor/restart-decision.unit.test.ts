import { describe, expect, it } from 'vitest';
import { decideRestart } from '../../src/supervisor/restart-decision.js';

const policy = { backoff: 1000, maxBackoff: 8000, maxRestarts: 3 };

describe('decideRestart', () => {
  it('gives up once the restart budget is used up', () => {
    expect(decideRestart({ restarts: 3, crashesWithoutProgress: 0, progressed: true }, policy)).toEqual({
      action: 'give-up',
    });
  });

  it('doubles the delay per crash without progress, up to the maximum', () => {
    const big = { ...policy, maxRestarts: 100 };
    const delays: number[] = [];
    let counters = { restarts: 0, crashesWithoutProgress: 0, progressed: false };
    for (let i = 0; i < 6; i++) {
      const d = decideRestart(counters, big);
      if (d.action !== 'restart') throw new Error('expected a restart');
      delays.push(d.delayMs);
      counters = {
        restarts: d.restarts,
        crashesWithoutProgress: d.crashesWithoutProgress,
        progressed: false,
      };
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(counters.restarts).toBe(6);
  });

  it('starts the backoff afresh after a segment that committed a checkpoint', () => {
    expect(decideRestart({ restarts: 1, crashesWithoutProgress: 3, progressed: true }, policy)).toEqual({
      action: 'restart',
      delayMs: 1000,
      restarts: 2,
      crashesWithoutProgress: 1,
    });
  });
});
