import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import {
  type CompressionMode,
  commitFiles,
  FileChangedError,
  type FileIdentity,
  type Lease,
  type Manifest,
  type Store,
} from '../store/index.js';
import type { CapturePlan } from './app-behavior.js';
import { stepOfCapture } from './capture-step.js';
import { writersInGroup } from './open-files.js';
import { parseStepSource, type StepSource } from './run-options.js';

/**
 * When a capture looks: while the program runs; after it exited cleanly (its files are final);
 * or after it crashed or was killed (only files that can be shown complete are taken).
 */
export type CaptureMode = 'running' | 'clean-exit' | 'after-crash';

/** A file changing in place at every look for this many settle periods is reported once. */
export const NEVER_SETTLES_FACTOR = 5;

/** How a {@link FileCapturer} decides and commits (from the run's options). */
export interface CaptureOptions {
  settleMs: number;
  compression: CompressionMode;
  /** `--check`: a shell command that vouches for a file in `CKPT_CHECK_FILE` (exit 0 = complete). */
  check: string | undefined;
  /** `--step-from`, unparsed. */
  stepFrom: string | undefined;
  /** Says something once (warnings: a file that never settles…). */
  warn: (code: string, message: string) => void;
}

/** A capture that committed: the new checkpoint and the files it holds. */
export interface CaptureResult {
  manifest: Manifest;
  files: string[];
}

/** One file as a look saw it. */
interface Observation extends FileIdentity {
  born: number;
  signature: string;
  /** When this version was first seen. */
  since: number;
  /** This version replaced the previous one by rename (a new inode): complete at once. */
  replaced: boolean;
  /** When the file started changing in place at every look (for the never-settles warning). */
  churningSince: number | undefined;
  /** A look saw this version settled (unchanged for the settle time): it could be captured. */
  settled?: boolean;
  /**
   * A process seen writing this version died before it was seen closing it: it may have been
   * killed mid-write, so settling proves nothing until the file changes again.
   */
  suspect?: boolean;
}

/**
 * Captures the files of a {@link CapturePlan} (relative to `cwd`) into the store once they are
 * complete, and only then (docs/protocol.md, "Capture"). A file is complete when it was replaced
 * by a rename (a new inode: the writer finished it elsewhere), or was last modified at least the
 * settle time ago, or passes `--check`; and while the program runs, when no process of the job has it
 * open for writing and the app's own check passes. After a crash only files shown complete by a
 * rename, `--check` or the app count. What is committed is exactly what was checked: a file that
 * changed since fails the capture, which is tried again later.
 */
export class FileCapturer {
  private readonly seen = new Map<string, Observation>();
  /** The files as of the last capture or restore. */
  private committed = new Map<string, FileIdentity>();
  private readonly checked = new Map<string, boolean>();
  private readonly stepSource: StepSource | undefined;
  private everMatched = false;
  private readonly warnedChurn = new Set<string>();
  /** Who held which file (relative path) open for writing at the last look while running. */
  private writers = new Map<string, number[]>();

  constructor(
    private readonly store: Store,
    private readonly lease: Lease,
    private readonly cwd: string,
    private readonly plan: CapturePlan,
    private readonly options: CaptureOptions,
  ) {
    this.stepSource = options.stepFrom === undefined ? undefined : parseStepSource(options.stepFrom);
  }

  /** How long a file must be unchanged to count as settled: the app's own time, else `--settle`. */
  private get settleMs(): number {
    return this.plan.settleMs ?? this.options.settleMs;
  }

  /** Whether there is anything to capture at all (the plan has globs). */
  get enabled(): boolean {
    return this.plan.globs.length > 0;
  }

  /** Whether the capture globs matched files at the last look (or restore). */
  get hasFiles(): boolean {
    return this.committed.size > 0;
  }

  /** Whether any capture glob has matched a file yet. */
  get matchedAnything(): boolean {
    return this.everMatched;
  }

  /** Remembers the files as they are now as already captured (right after a restore). */
  async markCurrent(): Promise<void> {
    const files = await this.snapshot();
    this.committed = new Map(files.map((f) => [f.path, identityOf(f)]));
    const now = Date.now();
    // What was seen before no longer counts: a file at a path that is empty now is a new file
    // when it comes back, not a replacement (see poll()).
    this.seen.clear();
    for (const f of files) {
      this.seen.set(f.path, { ...f, since: now, replaced: false, churningSince: undefined });
    }
  }

  /**
   * Looks once and commits if every selected file is complete and one changed since the last
   * capture. `pgid` is the job's process group while it runs. Returns undefined when nothing was
   * committed (incomplete, unchanged, or changed while being read).
   */
  async poll(
    mode: CaptureMode,
    pgid: number | undefined,
    counterStep: number,
  ): Promise<CaptureResult | undefined> {
    if (!this.enabled) return undefined;
    const now = Date.now();
    const afterExit = mode === 'running' ? this.plan.onlyAfterExit : undefined;
    const all = await this.snapshot();
    const files = afterExit ? all.filter((f) => !afterExit(f.path)) : all;
    // A path no longer there is forgotten: the file created there next is new, written in place
    // for all we know, not a replacement by rename (which would count as complete at once).
    const present = new Set(all.map((f) => f.path));
    for (const path of [...this.seen.keys()]) if (!present.has(path)) this.seen.delete(path);
    if (files.length === 0) return undefined;
    this.everMatched = true;
    for (const f of files) this.observe(f, now);
    const changed = files.filter(
      (f) => this.committed.get(f.path)?.ino === undefined || !same(this.committed.get(f.path)!, f),
    );
    const committedHere = afterExit
      ? [...this.committed.keys()].filter((path) => !afterExit(path)).length
      : this.committed.size;
    if (changed.length === 0 && files.length === committedHere) return undefined;
    // While running, who writes what is looked at first: it can make a settled file suspect.
    if (mode === 'running' && pgid !== undefined && !(await this.lookAtWriters(pgid, files))) {
      return undefined;
    }
    for (const f of changed) {
      if (!(await this.isComplete(f.path, mode, now))) return undefined;
    }
    const paths = files.map((f) => f.path);
    if (this.plan.isComplete && !(await this.plan.isComplete(paths, this.cwd))) return undefined;
    const growing = (await this.plan.include?.(this.cwd)) ?? [];
    const expected = new Map(files.map((f) => [f.path, identityOf(f)]));
    const step = await stepOfCapture(files, this.plan, this.stepSource, this.cwd);
    let manifest: Manifest;
    try {
      manifest = await commitFiles(this.store, this.lease, this.cwd, [...paths, ...growing], {
        step: step ?? counterStep,
        meta: { capturedBy: 'ckpt run', stepKind: step === undefined ? 'capture-counter' : 'program' },
        compression: this.options.compression,
        growing: new Set(growing),
        expected,
      });
    } catch (error) {
      if (error instanceof FileChangedError) return undefined;
      throw error;
    }
    this.committed = expected;
    return { manifest, files: paths };
  }

  /**
   * Looks at the job's processes: false when this look cannot judge completeness (the program
   * itself has died, or some process of the job holds a selected file open for writing). A file
   * held open for writing at the last look by a process that is gone now is marked suspect.
   */
  private async lookAtWriters(pgid: number, files: readonly SnapshotFile[]): Promise<boolean> {
    // /proc shows real paths: compare against the real path of the directory.
    const real = await fsp.realpath(this.cwd).catch(() => this.cwd);
    const byReal = new Map(files.map((f) => [join(real, f.path), f.path]));
    const { writing, alive } = await writersInGroup(pgid, new Set(byReal.keys()));
    for (const [path, pids] of this.writers) {
      const seen = this.seen.get(path);
      if (seen && pids.some((pid) => !alive.has(pid))) seen.suspect = true;
    }
    this.writers = new Map([...writing].map(([abs, pids]) => [byReal.get(abs)!, pids]));
    // A file the app holds open all along is judged by its settle time alone.
    const heldOpen = new Set(this.plan.heldOpen ?? []);
    // NOTE: a process killed in the middle of an in-place write holds nothing open any more, and
    // its torn file may look settled: once the program itself is gone, this look says nothing
    // (the look after its exit judges, by the after-crash rules).
    if (!alive.has(pgid)) return false;
    return [...this.writers.keys()].every((path) => heldOpen.has(path));
  }

  private observe(f: SnapshotFile, now: number): void {
    const prior = this.seen.get(f.path);
    if (prior && prior.signature === f.signature) {
      if (now - f.mtimeMs >= this.settleMs) prior.settled = true;
      return;
    }
    // NOTE: a rename brings a new file: a new inode, or, since inode numbers are reused (a save's
    // temp file may get the number its predecessor freed), at least a new birth time.
    const replaced = prior !== undefined && (prior.ino !== f.ino || prior.born !== f.born);
    // A file rewritten in place at every look never settles: say so once, it is never captured.
    // Churning ends once a look has seen the file settled (it could be captured then): a file
    // rewritten every few settle times is not one that never settles. Judged by the looks, not
    // by the time between them, which a loaded machine stretches.
    const churningSince =
      replaced || !prior || prior.settled ? undefined : (prior.churningSince ?? prior.since);
    this.seen.set(f.path, {
      ...f,
      since: now,
      replaced,
      churningSince,
      settled: now - f.mtimeMs >= this.settleMs,
    });
    // An app with a settle time of its own knows how its files churn: no advice to give.
    if (
      this.plan.settleMs === undefined &&
      churningSince !== undefined &&
      now - churningSince > NEVER_SETTLES_FACTOR * this.settleMs &&
      !this.warnedChurn.has(f.path)
    ) {
      this.warnedChurn.add(f.path);
      this.options.warn(
        'NEVER_SETTLES',
        `\`${f.path}\` is rewritten in place more often than --settle ${this.settleMs / 1000}s, so it is never captured: lower --settle, vouch for it with --check CMD, or have the program write a temp file and rename it into place.`,
      );
    }
  }

  /** Whether one changed file can be shown complete in this mode. */
  private async isComplete(path: string, mode: CaptureMode, now: number): Promise<boolean> {
    if (mode === 'clean-exit') return true;
    const seen = this.seen.get(path);
    if (!seen) return false;
    if (seen.replaced) return true;
    // Settled: last written at least the settle time ago (its mtime), so not in the middle of a
    // save; while the program runs, "not open for writing" is checked on top.
    if (mode === 'running' && !seen.suspect && now - seen.mtimeMs >= this.settleMs) return true;
    // After a crash an in-place writer may have been killed mid-write: only --check can vouch
    // for such a file. (An app's own check is not enough alone: OpenFOAM's looks at file names.)
    if (this.options.check !== undefined) return this.runCheck(path, seen.signature);
    return false;
  }

  private async runCheck(path: string, signature: string): Promise<boolean> {
    const key = `${path}\0${signature}`;
    const cached = this.checked.get(key);
    if (cached !== undefined) return cached;
    const ok = await new Promise<boolean>((resolve) => {
      const child = spawn('/bin/sh', ['-c', this.options.check!], {
        cwd: this.cwd,
        env: { ...process.env, CKPT_CHECK_FILE: join(this.cwd, path) },
        stdio: 'ignore',
      });
      child.once('error', () => resolve(false));
      child.once('exit', (code) => resolve(code === 0));
    });
    this.checked.set(key, ok);
    return ok;
  }

  private async snapshot(): Promise<SnapshotFile[]> {
    if (!this.enabled) return [];
    const found = await (await import('tinyglobby')).glob([...this.plan.globs], {
      cwd: this.cwd,
      onlyFiles: true,
      dot: true,
      absolute: false,
      followSymbolicLinks: false,
      ignore: ['**/.ckpt-aside/**', '**/.ckpt-restore-*/**', '**/*.tmp'],
    });
    const matches = this.plan.select ? this.plan.select(found.sort()) : found.sort();
    const out: SnapshotFile[] = [];
    for (const path of matches) {
      const stat = await fsp.lstat(join(this.cwd, path)).catch(() => undefined);
      if (stat?.isFile())
        out.push({
          path: relative(this.cwd, join(this.cwd, path)),
          signature: `${stat.size}:${stat.mtimeMs}:${stat.ino}:${stat.birthtimeMs}`,
          born: stat.birthtimeMs,
          size: stat.size,
          mtimeMs: stat.mtimeMs,
          ino: stat.ino,
        });
    }
    return out;
  }
}

/** One matched file as a look's snapshot saw it. */
export interface SnapshotFile extends FileIdentity {
  path: string;
  signature: string;
  /** Birth time: tells a new file from an old one when the inode number was reused. */
  born: number;
}

function identityOf(f: FileIdentity): FileIdentity {
  return { size: f.size, mtimeMs: f.mtimeMs, ino: f.ino };
}

function same(a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}
