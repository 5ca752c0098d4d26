import {
  anyOf,
  arrayOf,
  type Check,
  isBoolean,
  isNumber,
  isString,
  nullable,
  objectOf,
  oneOf,
  optional,
} from './shape.js';

/**
 * The journal's events, by name: what each carries besides `time` and `type` (docs/format.md,
 * docs/protocol.md). The one list for writers (the store, the supervisor, the slurm hooks: each
 * `appendJournal` is typed by it) and readers (`ckpt status`, `ckpt why`, the slurm layer), who
 * get an event only after its fields passed these checks ({@link knownJournalEvent}). Records
 * are open: a reader relies only on the fields named here.
 */

const slurmInfo = objectOf({
  jobId: isString,
  arrayJobId: optional(isString),
  arrayTaskId: optional(isString),
  restartCount: optional(isNumber),
  nodes: optional(isString),
});
const writer = objectOf({ host: isString, pid: isNumber, slurm: optional(slurmInfo) });
const leaseRecord = objectOf({
  host: isString,
  pid: isNumber,
  token: isString,
  startedAt: optional(isString),
  slurm: optional(slurmInfo),
});
const programExitShape = {
  code: nullable(isNumber),
  signal: nullable(isString),
  startError: optional(isString),
  meaning: optional(isString),
};
const programExit = objectOf(programExitShape);
const stopReason = anyOf(
  objectOf({ kind: oneOf('signal'), signal: isString, meaning: isString }),
  objectOf({ kind: oneOf('deadline'), detail: isString }),
  objectOf({ kind: oneOf('fenced'), detail: isString }),
);

const EVENT_CHECKS = {
  commit: objectOf({
    seq: isNumber,
    step: isNumber,
    bytes: isNumber,
    writtenBytes: isNumber,
    durationMs: isNumber,
    ranks: optional(isNumber),
  }),
  prune: objectOf({ removed: arrayOf(isNumber), freedChunks: isNumber }),
  gc: objectOf({
    chunks: isNumber,
    tmpFiles: isNumber,
    rotten: isNumber,
    foreign: isNumber,
    rounds: optional(isNumber),
    bytes: isNumber,
  }),
  'lease-takeover': objectOf({ from: leaseRecord, by: writer, lastAliveAt: optional(isString) }),
  'lease-broken': objectOf({ from: leaseRecord, by: writer }),
  'set-aside': objectOf({ seq: nullable(isNumber), files: arrayOf(isString) }),
  start: objectOf({
    writer,
    command: arrayOf(isString),
    restarts: isNumber,
    resumeFrom: nullable(
      objectOf({
        seq: isNumber,
        step: isNumber,
        stepKind: optional(isString),
        committed: optional(isString),
      }),
    ),
    skipped: arrayOf(objectOf({ seq: isNumber, reason: isString })),
  }),
  exit: objectOf({ ...programExitShape, runtimeMs: isNumber, pid: isNumber }),
  restart: objectOf({ attempt: isNumber, delayMs: isNumber, after: programExit }),
  'checkpoint-requested': objectOf({ reason: isString, signal: isString, handledBy: isNumber }),
  stop: objectOf({ reason: stopReason, pid: isNumber }),
  warning: objectOf({ code: isString, message: isString, pid: isNumber }),
  'checkpoint-failing': objectOf({ seq: isNumber, why: isString, pid: isNumber }),
  'restart-loop': objectOf({ action: isString, pid: isNumber }),
  'allocation-trouble': objectOf({ why: isString, pid: isNumber }),
  'run-end': objectOf({
    outcome: isString,
    message: isString,
    exit: programExit,
    restarts: isNumber,
    pid: isNumber,
  }),
  /** Under SLURM: what a stop signal meant, or a previous run that vanished (`node-failure`). */
  interruption: objectOf({
    kind: isString,
    slurm: objectOf({
      jobId: isString,
      arrayJobId: optional(isString),
      arrayTaskId: optional(isString),
      restartCount: optional(isNumber),
      requeueTarget: isString,
    }),
    pid: isNumber,
  }),
  /** Under SLURM: ckpt ran `scontrol requeue`, and whether SLURM took it. */
  requeue: objectOf({
    cause: isString,
    target: isString,
    attempt: isNumber,
    ok: isBoolean,
    error: optional(isString),
  }),
  /** `ckpt flow run`: a head started on a workflow file (`run` names this head's run). */
  'flow-run-start': objectOf({ run: isString, file: isString, jobs: isNumber }),
  /** `ckpt flow run`: a head ended, with how many tasks ran, were cached, failed or were blocked. */
  'flow-run-end': objectOf({
    run: isString,
    ran: isNumber,
    cached: isNumber,
    failed: isNumber,
    blocked: isNumber,
    interrupted: isBoolean,
  }),
  /** `ckpt flow run`: an attempt of a task started (`pid`: its wrapper). */
  'flow-task-start': objectOf({
    run: isString,
    task: isString,
    attempt: isNumber,
    key: isString,
    pid: optional(isNumber),
    /** A SLURM attempt: its job (`A_i` for an array task) and id (`NONCE.INDEX`). */
    job: optional(isString),
    attemptId: optional(isString),
  }),
  /** `ckpt flow run`: an attempt of a task ended: done (its record's `seq`), retry or failed. */
  'flow-task-end': objectOf({
    run: isString,
    task: isString,
    attempt: isNumber,
    outcome: isString,
    seq: optional(isNumber),
    error: optional(isString),
    /** A SLURM attempt's id (`NONCE.INDEX`) and job (`A_i` for an array task). */
    attemptId: optional(isString),
    job: optional(isString),
  }),
  /**
   * `ckpt flow run`: the head is about to run `sbatch` for these tasks of a step (an array when
   * there are several; task i is array index i). Journaled before sbatch, so a head that dies in
   * between finds the job by its comment `ckptflow:NONCE` instead of submitting it again.
   */
  'flow-submit': objectOf({
    run: isString,
    nonce: isString,
    step: isString,
    tasks: arrayOf(objectOf({ task: isString, key: isString, attempt: isNumber })),
  }),
  /** `ckpt flow run`: sbatch accepted submission `nonce` as job `jobId`. */
  'flow-submitted': objectOf({ run: isString, nonce: isString, jobId: isString }),
} satisfies Record<string, Check<Record<string, unknown>>>;

/** The name of an event ckpt writes. */
export type JournalEventName = keyof typeof EVENT_CHECKS;

/** What an event of type `K` carries besides `time` and `type`. */
export type JournalPayload<K extends JournalEventName> =
  (typeof EVENT_CHECKS)[K] extends Check<infer T> ? T : never;

/** A checked event of type `K`. */
export type JournalEventOf<K extends JournalEventName> = { time: string; type: K } & JournalPayload<K>;

/** Any checked event: a union discriminated by `type`. */
export type KnownJournalEvent = { [K in JournalEventName]: JournalEventOf<K> }[JournalEventName];

/** A raw journal line's event: an object with string `time` and `type`, nothing else checked. */
export interface RawJournalEvent {
  time: string;
  type: string;
  [field: string]: unknown;
}

/**
 * The event as its type says, if its type is one ckpt writes and every field passes its check;
 * undefined for an unknown type (a newer ckpt's, or anyone's) or a malformed payload. Never throws.
 */
export function knownJournalEvent(event: RawJournalEvent): KnownJournalEvent | undefined {
  if (!Object.hasOwn(EVENT_CHECKS, event.type)) return undefined;
  const check: Check<unknown> = EVENT_CHECKS[event.type as JournalEventName];
  return check(event) ? (event as KnownJournalEvent) : undefined;
}

/** The checked events among `events`, in order; unknown and malformed ones are left out. */
export function knownJournalEvents(events: readonly RawJournalEvent[]): KnownJournalEvent[] {
  return events.flatMap((event) => knownJournalEvent(event) ?? []);
}

/** The checked events of one type among `events`, in order. */
export function journalEventsOf<K extends JournalEventName>(
  events: readonly RawJournalEvent[],
  type: K,
): JournalEventOf<K>[] {
  return knownJournalEvents(events).filter((e) => e.type === type) as JournalEventOf<K>[];
}
