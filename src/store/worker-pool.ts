/**
 * Runs async tasks with at most `size` of them under way at once; the others wait in order.
 * The store's one limiter of parallel I/O: chunk writes ({@link ChunkWriter}) and chunk reads
 * ({@link forEachConcurrently}) both go through it.
 */
export class WorkerPool {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  private readonly watchers: Array<() => void> = [];

  /** `size` must be at least 1. */
  constructor(readonly size: number) {}

  /** True while every slot is taken or tasks wait for one. */
  get full(): boolean {
    return this.queue.length > 0 || this.active >= this.size;
  }

  /** True when no task is under way or waiting. */
  get idle(): boolean {
    return this.active === 0 && this.queue.length === 0;
  }

  /**
   * Starts `task` now if a slot is free, else once one frees. Settles as the task does; the slot
   * is given to the next task right after that, and {@link freed} wakes.
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = (): void => {
        this.active++;
        task().then(
          (value) => {
            resolve(value);
            this.release();
          },
          (error: unknown) => {
            reject(error);
            this.release();
          },
        );
      };
      if (this.full) this.queue.push(start);
      else start();
    });
  }

  /** Resolves the next time a task ends. */
  freed(): Promise<void> {
    return new Promise<void>((resolve) => this.watchers.push(resolve));
  }

  /** Resolves once no task is under way or waiting (failures are the callers' of {@link run}). */
  async drain(): Promise<void> {
    while (!this.idle) await this.freed();
  }

  private release(): void {
    this.active--;
    this.queue.shift()?.();
    for (const wake of this.watchers.splice(0)) wake();
  }
}

/** Runs `work` over `items` with at most `concurrency` at once; the first failure stops the rest. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  const pool = new WorkerPool(concurrency);
  let failed = false;
  await Promise.all(
    items.map((item, i) =>
      pool.run(async () => {
        if (failed) return;
        try {
          await work(item, i);
        } catch (error) {
          failed = true;
          throw error;
        }
      }),
    ),
  );
}
