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
  let lastCommitAt: string | undefined;
  let outcome: string | undefined;
  let restarts = 0;
  for (const event of journal.events) {
    const current = segments.at(-1);
    switch (event.type) {
      case 'start':
        segments.push({
          started: event.time,
          resumeFrom: (event.resumeFrom as Segment['resumeFrom']) ?? null,
          lostMs: 0,
          ...slurmOf(event),
        });
        lastCommitAt = undefined;
        outcome = undefined;
        break;
      case 'commit':
        lastCommitAt = event.time;
        break;
      case 'exit':
        if (current && !current.ended) {
          current.ended = event.time;
          current.exit = {
            code: (event.code as number | null) ?? null,
            signal: (event.signal as string | null) ?? null,
          };
          if (current.exit.code !== 0) current.lostMs = elapsed(lastCommitAt ?? current.started, event.time);
        }
        break;
      case 'stop':
        if (current) current.endReason = describeStopEvent(event.reason);
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
        outcome = String(event.outcome);
        break;
    }
  }
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
        open.lostMs = elapsed(lastCommitAt ?? open.started, lastEventTime(journal.events) ?? open.started);
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
  return slurm ? { slurm } : {};
}
