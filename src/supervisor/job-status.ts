import {
  type HolderProbe,
  holderState,
  type JournalEventOf,
  journalEventsOf,
  type KnownJournalEvent,
  knownJournalEvents,
  type LeaseRecord,
  type Manifest,
  readJournal,
  readLease,
  type Store,
} from '../store/index.js';

/**
 * How the job stands (`ckpt status`): running, ended the way its last run-end says, ckpt died
 * without a word (`supervisor-died`), or no run journaled yet.
 */
export type JobState =
  | 'running'
  | 'finished'
  | 'interrupted'
  | 'requeued'
  | 'fenced'
  | 'failed'
  | 'cannot-start'
  | 'supervisor-died'
  | 'no-run'
  | 'journal-unreadable'
  | 'store-unreadable';

/** One start of the program, from the journal: what it resumed from, how it ended, what it lost. */
export interface Segment {
  started: string;
  ended?: string;
  /** The checkpoint this start resumed from, as its `start` event says (with `committed`, when). */
  resumeFrom: {
    seq: number;
    step: number;
    stepKind?: string | undefined;
    committed?: string | undefined;
  } | null;
  /** The SLURM job and restart count this segment ran as, if any. */
  slurm?: {
    jobId: string;
    restartCount: number;
    arrayJobId?: string | undefined;
    arrayTaskId?: string | undefined;
    /** Its nodes (`SLURM_JOB_NODELIST`). */
    nodes?: string | undefined;
  };
  /** The rank count of the multi-rank checkpoints it committed, if it committed any. */
  ranks?: number;
  /** Why it ended, when ckpt knows more than the exit status (deadline, cancel, node failure…). */
  endReason?: string;
  exit?: { code: number | null; signal: string | null; startError?: string };
  /**
   * Work lost at the segment's end: from the commit of the checkpoint the next start resumed
   * from (or the segment's start, if later) to the interruption. After ckpt itself died without a
   * word, the interruption is when its lease was last known alive.
   */
  lostMs: number;
}

/** The job's story as `ckpt status` tells it, rebuilt from the journal, the lease and the store. */
export interface JobStatus {
  state: JobState;
  holder: (LeaseRecord & { state: string }) | undefined;
  segments: Segment[];
  restarts: number;
  lastCheckpoint: { seq: number; step: number; stepKind: string; time: string; ageMs: number } | undefined;
  workLostMs: number;
  /** Checkpoints the restart loop gave up (the program failed on them right after starting). */
  markedFailing: Array<{ seq: number; why: string; time: string }>;
  /** `unreadable`: why the journal could not be read at all (then the state says so). */
  journal: { events: number; damagedLines: number[]; tornTail: boolean; unreadable?: string };
}

/** How {@link readJobStatus} judges the present: the clock, and the lease probe of `ckpt run`. */
export interface JobStatusOptions {
  /** Now, in ms since the epoch (default: `Date.now()`). */
  now?: number;
  /** Asked whether the lease's holder still runs, as `ckpt run` asks it (the slurm layer's). */
  holderProbe?: HolderProbe;
  /**
   * The newest checkpoint a restore would use (null: none), when the caller has already looked
   * at every checkpoint (the dashboard does, incrementally); otherwise the store is scanned.
   */
  newestUsable?: Pick<Manifest, 'seq' | 'step' | 'time' | 'meta'> | null;
}

/**
 * Reconstructs the job's story from the journal, the lease and the store. Pure reading. The
 * holder's state is judged as a new `ckpt run` would judge it, given the same `holderProbe`.
 */
export async function readJobStatus(store: Store, options: JobStatusOptions = {}): Promise<JobStatus> {
  const now = options.now ?? Date.now();
  const journal = await readJournal(store.root);
  // Only events whose fields check out tell the story; unknown and malformed ones are skipped.
  const events = knownJournalEvents(journal.events);
  const holder = await readLease(store.root).catch(() => undefined);
  const holderNow = holder ? { ...holder, state: await holderState(holder, options.holderProbe) } : undefined;
  const segments: Segment[] = [];
  // Per segment: the supervisor's pid and its last commit. After a node failure the stale copy of
  // the job may still journal its stop and exit once the new one runs: its events carry its pid
  // and belong to its own segment. (Commits after the takeover can only be the new writer's.)
  const pids = new Map<Segment, number>();
  const lastCommitAt = new Map<Segment, string>();
  /** When each segment's checkpoint it resumed from was committed, and when each segment ended. */
  const resumedCommit = new Map<Segment, string | null>();
  const endedAt = new Map<Segment, string>();
  const finished = new Set<Segment>();
  let outcome: string | undefined;
  let restarts = 0;
  for (const event of events) {
    const pid = 'pid' in event ? event.pid : undefined;
    const current =
      (pid === undefined ? undefined : segments.findLast((s) => pids.get(s) === pid)) ?? segments.at(-1);
    switch (event.type) {
      case 'start': {
        const from = event.resumeFrom;
        const segment: Segment = {
          started: event.time,
          resumeFrom: from,
          lostMs: 0,
          ...slurmOf(event.writer),
        };
        pids.set(segment, event.writer.pid);
        resumedCommit.set(segment, from?.committed ?? null);
        segments.push(segment);
        outcome = undefined;
        break;
      }
      case 'commit':
        if (current) lastCommitAt.set(current, event.time);
        if (current && event.ranks !== undefined) current.ranks = event.ranks;
        break;
      case 'exit':
        if (current && !current.ended) {
          current.ended = event.time;
          current.exit = {
            code: event.code,
            signal: event.signal,
            ...(event.startError === undefined ? {} : { startError: event.startError }),
          };
          endedAt.set(current, event.time);
          if (current.exit.code === 0 || event.meaning === 'finished') finished.add(current);
        }
        break;
      case 'lease-takeover': {
        // The holder died without a word: it was last known alive when it last touched the lease.
        const previous = segments.at(-1);
        if (previous && !previous.ended && event.lastAliveAt !== undefined) {
          endedAt.set(previous, event.lastAliveAt);
        }
        break;
      }
      case 'stop':
        if (current) {
          const why = describeStopEvent(event.reason);
          // A node failure's stale copy keeps running until the new one fences it.
          current.endReason = current.endReason?.startsWith('node failure') ? `node failure; ${why}` : why;
        }
        break;
      case 'interruption':
        // A node failure is noted by the next run, about the segment before it.
        // NOTE: the stale copy of the job keeps running and may journal its own `stop` (fenced) or
        // `exit` before or after this line: the reasons are merged, whatever the order.
        if (event.kind === 'node-failure') {
          const previous = segments.findLast((s) => pid === undefined || pids.get(s) !== pid);
          if (previous) {
            const other = previous.endReason;
            previous.endReason = other
              ? other.startsWith('node failure')
                ? other
                : `node failure; ${other}`
              : previous.ended
                ? 'node failure'
                : 'node failure (no exit was recorded)';
          }
        } else if (current) current.endReason = event.kind.replace('-', ' ');
        break;
      case 'restart':
        restarts = Math.max(restarts, event.attempt);
        break;
      case 'run-end':
        // Only the newest segment's supervisor decides the job's state, not a fenced stale copy.
        if (current === segments.at(-1)) outcome = event.outcome;
        break;
    }
  }
  const lastCommit = (segment: Segment): string | undefined => lastCommitAt.get(segment);
  segments.forEach((segment, i) => {
    if (finished.has(segment)) return;
    // A segment still running has lost nothing yet.
    if (
      i === segments.length - 1 &&
      !segment.ended &&
      (holderNow?.state === 'alive' || holderNow?.state === 'unknown')
    )
      return;
    const end =
      endedAt.get(segment) ??
      lastEventOf(events, segment, i + 1 < segments.length ? segments[i + 1]!.started : undefined);
    if (!end) return;
    const next = segments[i + 1];
    // What the next start went back to: its checkpoint's commit; without one, all of this segment.
    const back = next ? (resumedCommit.get(next) ?? null) : (lastCommit(segment) ?? null);
    const from = back !== null && Date.parse(back) > Date.parse(segment.started) ? back : segment.started;
    segment.lostMs = elapsed(from, end);
  });
  const open = segments.at(-1);
  let state: JobState = journal.unreadable === undefined ? 'no-run' : 'journal-unreadable';
  if (open) {
    if (
      outcome &&
      ['finished', 'interrupted', 'requeued', 'fenced', 'failed', 'cannot-start'].includes(outcome)
    )
      state = outcome as JobState;
    else if (holderNow?.state === 'alive' || holderNow?.state === 'unknown') state = 'running';
    else state = 'supervisor-died';
  }
  const newest =
    options.newestUsable !== undefined
      ? (options.newestUsable ?? undefined)
      : (await store.candidates()).usable[0];
  return {
    state,
    holder: holderNow,
    segments,
    restarts,
    lastCheckpoint: newest
      ? {
          seq: newest.seq,
          step: newest.step,
          stepKind: newest.meta.stepKind === 'capture-counter' ? 'capture-counter' : 'program',
          time: newest.time,
          ageMs: now - Date.parse(newest.time),
        }
      : undefined,
    workLostMs: segments.reduce((sum, s) => sum + s.lostMs, 0),
    markedFailing: journalEventsOf(events, 'checkpoint-failing').map(({ seq, why, time }) => ({
      seq,
      why,
      time,
    })),
    journal: {
      events: journal.events.length,
      damagedLines: journal.damagedLines,
      tornTail: journal.tornTail,
      ...(journal.unreadable === undefined ? {} : { unreadable: journal.unreadable }),
    },
  };
}

function elapsed(from: string, to: string): number {
  return Math.max(0, Date.parse(to) - Date.parse(from));
}

/** The time of the last event before `until` (the next segment's start), for a segment with no exit. */
function lastEventOf(
  events: readonly KnownJournalEvent[],
  segment: Segment,
  until: string | undefined,
): string | undefined {
  let last: string | undefined;
  for (const e of events) {
    if (e.time < segment.started) continue;
    if (until !== undefined && e.time >= until) break;
    last = e.time;
  }
  return last;
}

function describeStopEvent(reason: JournalEventOf<'stop'>['reason']): string {
  if (reason.kind === 'deadline') return `deadline: ${reason.detail}`.trim();
  if (reason.kind === 'signal') return `${reason.signal}: ${reason.meaning}`.trim();
  return 'fenced by a newer copy of the job';
}

function slurmOf(writer: JournalEventOf<'start'>['writer']): { slurm?: NonNullable<Segment['slurm']> } {
  const slurm = writer.slurm;
  // SLURM leaves SLURM_RESTART_COUNT unset on a job's first run: that is restart 0.
  return slurm ? { slurm: { ...slurm, restartCount: slurm.restartCount ?? 0 } } : {};
}
