import {
  holderState,
  type JournalEvent,
  type LeaseRecord,
  readJournal,
  readLease,
  type Store,
} from '../store/index.js';

export type JobState =
  | 'running'
  | 'finished'
  | 'interrupted'
  | 'requeued'
  | 'fenced'
  | 'failed'
  | 'cannot-start'
  | 'supervisor-died'
  | 'no-run';

export interface Segment {
  started: string;
  ended?: string;
  resumeFrom: { seq: number; step: number } | null;
  /** The SLURM job and restart count this segment ran as, if any. */
  slurm?: { jobId: string; restartCount?: number; arrayTaskId?: string };
  /** Why it ended, when ckpt knows more than the exit status (deadline, cancel, node failure…). */
  endReason?: string;
  exit?: { code: number | null; signal: string | null };
  /** Work done after the segment's last commit (or its start) that was lost at its end. */
  lostMs: number;
}

export interface JobStatus {
  state: JobState;
  holder: (LeaseRecord & { state: string }) | undefined;
  segments: Segment[];
  restarts: number;
  lastCheckpoint: { seq: number; step: number; time: string; ageMs: number } | undefined;
  workLostMs: number;
  journal: { events: number; damagedLines: number[]; tornTail: boolean };
}

/** Reconstructs the job's story from the journal, the lease and the store. Pure reading. */
export async function readJobStatus(store: Store, now = Date.now()): Promise<JobStatus> {
  const journal = await readJournal(store.root);
  const holder = await readLease(store.root).catch(() => undefined);
  const holderNow = holder ? { ...holder, state: await holderState(holder) } : undefined;
  const segments: Segment[] = [];
  // Per segment: the supervisor's pid and its last commit. After a node failure the stale copy of
  // the job may still journal its stop and exit once the new one runs: its events carry its pid
  // and belong to its own segment. (Commits after the takeover can only be the new writer's.)
  const pids = new Map<Segment, number>();
  const lastCommitAt = new Map<Segment, string>();
  let outcome: string | undefined;
  let restarts = 0;
  for (const event of journal.events) {
    const pid = typeof event.pid === 'number' ? event.pid : undefined;
    const current =
      (pid === undefined ? undefined : segments.findLast((s) => pids.get(s) === pid)) ?? segments.at(-1);
    switch (event.type) {
      case 'start': {
        const segment: Segment = {
          started: event.time,
          resumeFrom: (event.resumeFrom as Segment['resumeFrom']) ?? null,
          lostMs: 0,
          ...slurmOf(event),
        };
        const writerPid = (event.writer as { pid?: unknown } | undefined)?.pid;
        if (typeof writerPid === 'number') pids.set(segment, writerPid);
        segments.push(segment);
        outcome = undefined;
        break;
      }
      case 'commit':
        if (current) lastCommitAt.set(current, event.time);
        break;
      case 'exit':
        if (current && !current.ended) {
          current.ended = event.time;
          current.exit = {
            code: (event.code as number | null) ?? null,
            signal: (event.signal as string | null) ?? null,
          };
          if (current.exit.code !== 0)
            current.lostMs = elapsed(lastCommitAt.get(current) ?? current.started, event.time);
        }
        break;
      case 'stop':
        if (current) {
          const why = describeStopEvent(event.reason);
          // A node failure's stale copy keeps running until the new one fences it.
          current.endReason = current.endReason?.startsWith('node failure') ? `node failure; ${why}` : why;
        }
        break;
      case 'interruption':
        // A node failure is noted by the next run, about the segment before it.
        if (event.kind === 'node-failure') {
          const previous = segments.at(-1);
          if (previous && !previous.ended) previous.endReason = 'node failure (no exit was recorded)';
        } else if (current) current.endReason = String(event.kind).replace('-', ' ');
        break;
      case 'restart':
        restarts = Math.max(restarts, Number(event.attempt) || 0);
        break;
      case 'run-end':
        // Only the newest segment's supervisor decides the job's state, not a fenced stale copy.
        if (current === segments.at(-1)) outcome = String(event.outcome);
        break;
    }
  }
  const lastCommit = (segment: Segment): string | undefined => lastCommitAt.get(segment);
  const open = segments.at(-1);
  let state: JobState = 'no-run';
  if (open) {
    if (
      outcome &&
      ['finished', 'interrupted', 'requeued', 'fenced', 'failed', 'cannot-start'].includes(outcome)
    )
      state = outcome as JobState;
    else if (holderNow?.state === 'alive' || holderNow?.state === 'unknown') state = 'running';
    else {
      state = 'supervisor-died';
      if (!open.ended)
        open.lostMs = elapsed(
          lastCommit(open) ?? open.started,
          lastEventTime(journal.events) ?? open.started,
        );
    }
  }
  const { usable } = await store.candidates();
  const newest = usable[0];
  return {
    state,
    holder: holderNow,
    segments,
    restarts,
    lastCheckpoint: newest
      ? { seq: newest.seq, step: newest.step, time: newest.time, ageMs: now - Date.parse(newest.time) }
      : undefined,
    workLostMs: segments.reduce((sum, s) => sum + s.lostMs, 0),
    journal: {
      events: journal.events.length,
      damagedLines: journal.damagedLines,
      tornTail: journal.tornTail,
    },
  };
}

function elapsed(from: string, to: string): number {
  return Math.max(0, Date.parse(to) - Date.parse(from));
}

function lastEventTime(events: JournalEvent[]): string | undefined {
  return events.at(-1)?.time;
}

function describeStopEvent(reason: unknown): string {
  const r = (reason ?? {}) as { kind?: string; meaning?: string; signal?: string; detail?: string };
  if (r.kind === 'deadline') return `deadline: ${r.detail ?? ''}`.trim();
  if (r.kind === 'signal') return `${r.signal}: ${r.meaning ?? ''}`.trim();
  if (r.kind === 'fenced') return 'fenced by a newer copy of the job';
  return 'stopped';
}

function slurmOf(event: JournalEvent): { slurm?: NonNullable<Segment['slurm']> } {
  const slurm = (event.writer as { slurm?: Segment['slurm'] } | undefined)?.slurm;
  // SLURM leaves SLURM_RESTART_COUNT unset on a job's first run: that is restart 0.
  return slurm ? { slurm: { ...slurm, restartCount: slurm.restartCount ?? 0 } } : {};
}
