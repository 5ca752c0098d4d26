/**
 * The scenario the SLURM tests share: the fixture program (test/fixtures/slurm/prog.py) submitted
 * with `ckpt sbatch` from a fresh directory with its own store, the uninterrupted run's result to
 * compare with, and what a test does and reads while and after it runs (steps, requeues, the end,
 * jobcomp, the journal, `ckpt status`, the program's progress log).
 */
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import type { JournalEvent } from '../../src/store/index.js';
import type { JobStatus } from '../../src/supervisor/index.js';
import { type WaitOptions, waitFor } from '../helpers/wait-for.js';
import {
  diagnose,
  jobcomp,
  jobcompOffset,
  jobStatus,
  journal,
  lastStep,
  type ProgOptions,
  type ProgressEvent,
  progArgs,
  type Result,
  readProgress,
  readResult,
  referenceResult,
  type StartSeen,
  sh,
  submit,
  trackStarts,
  useJobs,
  waitJobEnd,
} from './lab.js';

/** What to submit. */
export interface ProgJobOptions {
  prog: ProgOptions;
  /** sbatch's `--time`. */
  time: string;
  /** More `ckpt sbatch` options (before `--`). */
  sbatch?: string[];
  /** What runs python3 (e.g. `['srun']`). */
  launcher?: string[];
}

/** A submitted run of the fixture program. */
export interface ProgJob {
  dir: string;
  store: string;
  id: string;
  /** The uninterrupted run's result (the program run bare). */
  reference(): Result;
  /** Watches the program's starts (stopped after the test); see {@link trackStarts}. */
  trackStarts(onStart?: (e: ProgressEvent) => void): StartSeen[];
  /** {@link waitFor}, showing the job's files on a timeout. */
  wait<T>(
    check: () => T | undefined | false | Promise<T | undefined | false>,
    what: string,
    options: Omit<WaitOptions, 'explain'>,
  ): Promise<T>;
  /** Waits until the program passed `step`. */
  waitStep(step: number): Promise<void>;
  /** `scontrol requeue` the job (which must succeed); returns when. */
  requeue(): number;
  /** Waits until the job ended for good; its `scontrol show job` fields. */
  end(timeoutMs: number): Promise<Record<string, string>>;
  /** The job's states in the jobcomp file since it was submitted, one per segment. */
  jobcompStates(): string[];
  journal(): Promise<JournalEvent[]>;
  status(): JobStatus;
  progress(): ProgressEvent[];
  result(): Result | undefined;
}

/**
 * {@link useJobs} (the queue drained after each test) plus `submitProg`, which submits the
 * fixture program and returns its {@link ProgJob}.
 */
export function useProgJobs(): ReturnType<typeof useJobs> & { submitProg(o: ProgJobOptions): ProgJob } {
  const lab = useJobs();
  const stops: Array<() => void> = [];
  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
  });
  return {
    ...lab,
    submitProg(o) {
      const dir = lab.workDir();
      const store = join(dir, 'store');
      const offset = jobcompOffset();
      const id = submit(lab.jobs, dir, store, [
        '--time',
        o.time,
        '-o',
        join(dir, 'out.txt'),
        ...(o.sbatch ?? []),
        '--',
        ...(o.launcher ?? []),
        'python3',
        ...progArgs(o.prog),
      ]);
      return {
        dir,
        store,
        id,
        reference: () => referenceResult(o.prog),
        trackStarts(onStart) {
          const starts = trackStarts(dir, id, onStart);
          stops.push(starts.stop);
          return starts.seen;
        },
        wait: (check, what, options) => waitFor(check, what, { ...options, explain: () => diagnose(dir) }),
        waitStep: async (step) => {
          await waitFor(() => lastStep(dir) >= step, `the program to pass step ${step}`, {
            timeoutMs: 60_000,
            everyMs: 100,
            explain: () => diagnose(dir),
          });
        },
        requeue() {
          const at = Date.now();
          const r = sh('scontrol', ['requeue', id]);
          expect(r.code, r.stderr).toBe(0);
          return at;
        },
        end: (timeoutMs) => waitJobEnd(id, timeoutMs, dir),
        jobcompStates: () => jobcomp(offset, id).map((r) => r.JobState ?? ''),
        journal: () => journal(store),
        status: () => jobStatus(dir, store),
        progress: () => readProgress(dir),
        result: () => readResult(dir),
      };
    },
  };
}
