/**
 * Decides when a save is due: every N steps, every T milliseconds, or as soon as a checkpoint
 * was requested (by signal or `request()`).
 */
export class DueTracker {
  /** Step of the last save or restore; a fresh start counts from step 0. */
  private lastStep = 0;
  private lastTime: number;
  private requested = false;

  constructor(
    private readonly everySteps: number | undefined,
    private readonly everyMs: number | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastTime = now();
  }

  /** True when a save at `step` is due. Does not change state; `saved()` does. */
  due(step: number): boolean {
    if (this.requested) return true;
    if (this.everySteps !== undefined) {
      if (
        this.lastStep === undefined
          ? step > 0 && step % this.everySteps === 0
          : step - this.lastStep >= this.everySteps
      ) {
        return true;
      }
    }
    return this.everyMs !== undefined && this.now() - this.lastTime >= this.everyMs;
  }

  /** Marks that a checkpoint is wanted now (a signal arrived). */
  request(): void {
    this.requested = true;
  }

  get isRequested(): boolean {
    return this.requested;
  }

  /** Records a save at `step`. */
  saved(step: number): void {
    this.lastStep = step;
    this.lastTime = this.now();
    this.requested = false;
  }

  /** Starts counting from a restored step. */
  restored(step: number): void {
    this.lastStep = step;
  }
}
