import { describe, expect, it } from 'vitest';
import { forEachConcurrently, WorkerPool } from '../../src/store/worker-pool.js';

const tick = (ms = 1) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('WorkerPool', () => {
  it('runs at most `size` tasks at once, in the order given, and drains', async () => {
    const pool = new WorkerPool(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const results = Array.from({ length: 7 }, (_, i) =>
      pool.run(async () => {
        started.push(i);
        running++;
        most = Math.max(most, running);
        await tick();
        running--;
        return i * 10;
      }),
    );
    expect(pool.full).toBe(true);
    await pool.drain();
    expect(pool.idle).toBe(true);
    expect(await Promise.all(results)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('passes a failure to its caller and frees the slot', async () => {
    const pool = new WorkerPool(1);
    const failing = pool.run(async () => {
      throw new Error('boom');
    });
    const next = pool.run(async () => 'after');
    await expect(failing).rejects.toThrow('boom');
    expect(await next).toBe('after');
    expect(pool.idle).toBe(true);
  });
});

describe('forEachConcurrently', () => {
  it('visits every item with its index', async () => {
    const seen: string[] = [];
    await forEachConcurrently(['a', 'b', 'c'], 2, async (item, i) => {
      await tick();
      seen.push(`${i}${item}`);
    });
    expect(seen.sort()).toEqual(['0a', '1b', '2c']);
  });

  it('starts no item after the first failure and rethrows it', async () => {
    const started: number[] = [];
    const items = Array.from({ length: 20 }, (_, i) => i);
    await expect(
      forEachConcurrently(items, 2, async (i) => {
        started.push(i);
        await tick();
        if (i === 1) throw new Error(`item ${i}`);
      }),
    ).rejects.toThrow('item 1');
    await tick(20);
    expect(started.length).toBeLessThanOrEqual(3);
  });
});
