import { pruneToKeep } from './apply-keep.js';
import { type CaptureMode, FileCapturer } from './capture.js';
import { requestStop } from './graceful-stop.js';
import type { RunContext } from './run-context.js';

/** How often ckpt looks at captured files (and checks its lease) while the program runs. */
const POLL_MS = 250;
/** The shortest interval between looks, whatever an app's settle time. */
const MIN_POLL_MS = 50;
/** Without files to capture only the lease check remains: once a second is enough. */
const IDLE_POLL_MS = 1000;
/** How often the lease's mtime says "alive" (status measures lost work after ckpt's own death by it). */
const LEASE_TOUCH_MS = 1000;
/** Without --every, a --capture glob that has matched nothing after this long is reported. */
export const NOTHING_MATCHED_AFTER_MS = 30_000;

/**
 * Captures the program's files into the store through a {@link FileCapturer}: while it runs (each
 * look also checks the lease) and once after it exits. One look at a time, and a captured
 * checkpoint is pruned to `--keep` within the same look.
 */
export class CapturePoller {
  private readonly capturer: FileCapturer;
  /** The look in flight, if any: at most one at a time, and exits and stops wait for it. */
  private capturing: Promise<void> | undefined;
  /** The step of the newest checkpoint: a capture without a step of its own counts on from it. */
  private step = 0;
  private touchedAt = 0;

  constructor(private readonly run: RunContext) {
    this.capturer = new FileCapturer(run.store, run.lease, run.restoreDir, run.app.capture, {
      settleMs: run.options.settle,
      compression: run.options.compress,
      check: run.options.check,
      stepFrom: run.options.stepFrom,
      warn: (code, message) => void run.warnOnce(code, message, `${code}:${message}`),
    });
  }

  /**
   * How often to look while the program runs. An app that names its settle time is quiet for
   * moments barely longer than that (NWChem: 0.05–0.3 s between its writes): a look every half
   * settle time catches them, where one every {@link POLL_MS} missed most.
   */
  get intervalMs(): number {
    const { capture } = this.run.app;
    if (capture.globs.length === 0) return IDLE_POLL_MS;
    if (capture.settleMs === undefined) return POLL_MS;
    return Math.max(MIN_POLL_MS, Math.min(POLL_MS, capture.settleMs / 2));
  }

  /** Whether the capture globs matched files at the last look (or restore). */
  get hasFiles(): boolean {
    return this.capturer.hasFiles;
  }

  /** Right after a restore: the files as they are count as captured, and the step is `step`. */
  async markRestored(step: number): Promise<void> {
    this.step = step;
    await this.capturer.markCurrent();
  }

  /**
   * One look for files to capture, never two at once: a running look while one is in flight is
   * skipped, and the exit's look waits for it. Failures are reported, not thrown.
   */
  async poll(mode: CaptureMode): Promise<void> {
    const run = this.run;
    if (mode === 'running') {
      if (this.capturing || run.exited) return;
      // Read once: a look still in flight when the program exits must stay a "running" one.
      if (run.pgid === undefined) return;
      if (!run.stopRequested) await this.checkFenced();
    } else if (this.capturing) {
      await this.capturing;
    }
    if (!this.capturer.enabled) return;
    const pgid = run.pgid;
    const flight = (async () => {
      try {
        const result = await this.capturer.poll(mode, mode === 'running' ? pgid : undefined, this.step + 1);
        if (result) {
          this.step = result.manifest.step;
          await pruneToKeep(run);
          run.log(`ckpt: captured ${result.files.length} file(s) as checkpoint #${result.manifest.seq}`);
        }
      } catch (error) {
        run.log(`ckpt: capture failed: ${(error as Error).message}`);
      }
    })();
    this.capturing = flight;
    try {
      await flight;
    } finally {
      if (this.capturing === flight) this.capturing = undefined;
    }
  }

  /**
   * Warns once when `--capture` has matched nothing by the first interval (or
   * {@link NOTHING_MATCHED_AFTER_MS}) after `startedAt`. An app's files are the app's business.
   */
  warnIfNothingCaptured(startedAt: number): void {
    const { app, options, restoreDir } = this.run;
    if (!this.capturer.enabled || this.capturer.matchedAnything || app.kind === 'app') return;
    const after = options.every ?? NOTHING_MATCHED_AFTER_MS;
    if (Date.now() - startedAt < after) return;
    void this.run.warnOnce(
      'CAPTURE_MATCHES_NOTHING',
      `--capture ${options.capture.map((g) => `'${g}'`).join(' ')} has matched no file after ${Math.round((Date.now() - startedAt) / 1000)}s (relative to ${restoreDir}): nothing is being checkpointed. Check the pattern and the working directory.`,
    );
  }

  /** A stale copy of a requeued job must stop at once: its commits would be refused anyway. */
  private async checkFenced(): Promise<void> {
    const { lease } = this.run;
    try {
      await lease.assertHeld();
      if (Date.now() - this.touchedAt >= LEASE_TOUCH_MS) {
        this.touchedAt = Date.now();
        await lease.touch();
      }
    } catch (error) {
      requestStop(this.run, { kind: 'fenced', detail: (error as Error).message });
    }
  }
}
