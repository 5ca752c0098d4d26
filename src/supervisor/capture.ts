import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { type CompressionMode, commitFiles, type Lease, type Manifest, type Store } from '../store/index.js';
import type { CapturePlan } from './app-behavior.js';
import { openForWriting } from './open-files.js';

interface Seen {
  signature: string;
  since: number;
}

export interface CaptureResult {
  manifest: Manifest;
  files: string[];
}

/**
 * Captures the files of a {@link CapturePlan} (relative to `cwd`) into the store once they are
 * complete: unchanged for the settle time, not open for writing by any process of the job, and
 * passing the app's own check. A capture happens only when every selected file is complete (a
 * consistent moment) and one of them changed since the last capture.
 */
export class FileCapturer {
  private readonly seen = new Map<string, Seen>();
  private lastCommitted = '';

  constructor(
    private readonly store: Store,
    private readonly lease: Lease,
    private readonly cwd: string,
    private readonly plan: CapturePlan,
    private readonly settleMs: number,
    private readonly compression: CompressionMode,
  ) {}

  get enabled(): boolean {
    return this.plan.globs.length > 0;
  }

  /** Remembers the files as they are now as already captured (right after a restore). */
  async markCurrent(): Promise<void> {
    this.lastCommitted = (await this.snapshot()).map((f) => `${f.path}:${f.signature}`).join('|');
  }

  /**
   * Looks once; commits if a complete, changed set is there. `pgid` undefined means the job is
   * gone: files are complete as they are, no settle wait.
   */
  async poll(pgid: number | undefined, step: number): Promise<CaptureResult | undefined> {
    if (!this.enabled) return undefined;
    const now = Date.now();
    const files = await this.snapshot();
    if (files.length === 0) return undefined;
    let settled = true;
    for (const f of files) {
      const prior = this.seen.get(f.path);
      if (!prior || prior.signature !== f.signature) {
        this.seen.set(f.path, { signature: f.signature, since: now });
        if (pgid !== undefined) settled = false;
      } else if (pgid !== undefined && now - prior.since < this.settleMs) {
        settled = false;
      }
    }
    const key = files.map((f) => `${f.path}:${f.signature}`).join('|');
    if (!settled || key === this.lastCommitted) return undefined;
    if (pgid !== undefined) {
      // /proc shows real paths: compare against the real path of the directory.
      const real = await fsp.realpath(this.cwd).catch(() => this.cwd);
      const writing = await openForWriting(pgid, new Set(files.map((f) => join(real, f.path))));
      if (writing.size > 0) return undefined;
    }
    const paths = files.map((f) => f.path);
    if (this.plan.isComplete && !(await this.plan.isComplete(paths, this.cwd))) return undefined;
    const growing = (await this.plan.include?.(this.cwd)) ?? [];
    const manifest = await commitFiles(this.store, this.lease, this.cwd, [...paths, ...growing], {
      step: this.plan.stepOf?.(paths) ?? step,
      meta: { capturedBy: 'ckpt run' },
      compression: this.compression,
      growing: new Set(growing),
    });
    this.lastCommitted = key;
    return { manifest, files: paths };
  }

  private async snapshot(): Promise<Array<{ path: string; signature: string }>> {
    if (!this.enabled) return [];
    const found = await (await import('tinyglobby')).glob([...this.plan.globs], {
      cwd: this.cwd,
      onlyFiles: true,
      dot: true,
      absolute: false,
      ignore: ['**/.ckpt-aside/**', '**/.ckpt-restore-*/**', '**/*.tmp'],
    });
    const matches = this.plan.select ? this.plan.select(found.sort()) : found.sort();
    const out: Array<{ path: string; signature: string }> = [];
    for (const path of matches) {
      const stat = await fsp.stat(join(this.cwd, path)).catch(() => undefined);
      if (stat?.isFile())
        out.push({
          path: relative(this.cwd, join(this.cwd, path)),
          signature: `${stat.size}:${stat.mtimeMs}:${stat.ino}`,
        });
    }
    return out;
  }
}
