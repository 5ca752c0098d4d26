import {
  appendJournal,
  journalEventsOf,
  knownJournalEvents,
  readJournal,
  type Store,
} from '../store/index.js';
import type { AfterStop, StopReason, SupervisorHooks } from '../supervisor/index.js';
import { classifyTermination, INTERRUPTION_TEXT, type Interruption } from './classify.js';
import { leadTimeMs, measuredCheckpointMs } from './deadline.js';
import { createSlurmHolderProbe } from './holder-probe.js';
import { endTimeOf, requeueJob, type SlurmJob, showJob, signalSteps } from './job.js';
import { unreachableNodes } from './node-probe.js';

/** How often ckpt re-reads the job's end time (a user or admin may change it). */
export const DEADLINE_POLL_MS = 10_000;
/** Default budget of requeues for time limits, so a job that never finishes cannot loop forever. */
export const DEFAULT_MAX_REQUEUES = 20;
/** The signal `ckpt sbatch` asks SLURM to send to the batch level before the time limit. */
export const DEFAULT_WARNING_SIGNAL: NodeJS.Signals = 'SIGUSR2';

/** What {@link createSlurmHooks} needs: the job, its store, and the settings of `ckpt run`. */
export interface SlurmHooksOptions {
  job: SlurmJob;
  store: Store;
  maxRequeues: number;
  warningSignal: NodeJS.Signals;
  /** The command runs under srun: signals must reach its tasks through SLURM. */
  underSrun: boolean;
  /** SLURM's KillWait (ms): the time between SIGTERM and SIGKILL, which bounds a stop's grace. */
  killWaitMs: number;
  log: (line: string) => void;
}

/**
 * SLURM's SIGTERM of a preemption or requeue reaches every process of the job, OpenMPI's mpirun
 * too, which then SIGKILLs its ranks after `odls_base_sigkill_timeout` (1 s by default): too soon
 * for a rank to write its checkpoint. Give them what SLURM gives the job, KillWait, unless the
 * user chose a value.
 */
function openMpiStopTime(killWaitMs: number): Record<string, string> {
  const name = 'OMPI_MCA_odls_base_sigkill_timeout';
  return process.env[name] === undefined ? { [name]: String(Math.max(1, Math.ceil(killWaitMs / 1000))) } : {};
}

/**
 * `ckpt run`'s SLURM integration: CKPT_DEADLINE from the job's end time, a final checkpoint
 * planned before it, the warning signal, classification of every interruption, requeue of the
 * exact (array) job, and the lease probe of this job ({@link createSlurmHolderProbe}).
 */
export function createSlurmHooks(options: SlurmHooksOptions): SupervisorHooks {
  const { job, store, log } = options;
  let lastMeaning: Interruption | undefined;
  let firstStart = true;

  const deadline = async (): Promise<number | undefined> => endTimeOf((await showJob(job.jobId)) ?? {});

  return {
    holderProbe: createSlurmHolderProbe(job),
    warningSignals: [options.warningSignal],
    async env() {
      if (firstStart) {
        firstStart = false;
        await noteLostSegment(store, job);
      }
      const end = await deadline().catch(() => undefined);
      return {
        ...(end === undefined ? {} : { CKPT_DEADLINE: String(Math.floor(end / 1000)) }),
        ...openMpiStopTime(options.killWaitMs),
      };
    },
    watch(requestStop) {
      const segmentStart = Date.now();
      const check = async (): Promise<void> => {
        const end = await deadline().catch(() => undefined);
        if (end === undefined) return;
        // A segment always gets at least half of the time it has: a lead longer than that would
        // requeue a short job again and again without progress.
        const wanted = leadTimeMs(measuredCheckpointMs((await readJournal(store.root)).events));
        const lead = Math.min(wanted, (end - segmentStart) / 2);
        if (Date.now() >= end - lead) {
          requestStop({
            kind: 'deadline',
            detail: `time limit at ${new Date(end).toISOString()}, stopping ${Math.round(lead / 1000)}s before it`,
          });
        }
      };
      void check();
      const timer = setInterval(() => void check(), DEADLINE_POLL_MS);
      return () => clearInterval(timer);
    },
    async classifySignal() {
      lastMeaning = classifyTermination(await showJob(job.jobId).catch(() => undefined), job.restartCount);
      await appendJournal(store.root, 'interruption', { kind: lastMeaning, slurm: job, pid: process.pid });
      return INTERRUPTION_TEXT[lastMeaning];
    },
    allocationTrouble: () => unreachableNodes(),
    graceMs(reason, configured) {
      // After SLURM's SIGTERM only KillWait is left before SIGKILL; keep 2 s for the clean-up.
      return reason.kind === 'signal'
        ? Math.min(configured, Math.max(1000, options.killWaitMs - 2000))
        : configured;
    },
    deliver(signal) {
      if (options.underSrun) void signalSteps(job.jobId, signal);
      return options.underSrun;
    },
    async afterStop(reason: StopReason): Promise<AfterStop | undefined> {
      if (reason.kind === 'fenced') return undefined;
      const kind: Interruption = reason.kind === 'deadline' ? 'time-limit' : (lastMeaning ?? 'unknown');
      if (kind === 'requeued')
        return { requeued: true, message: 'SLURM requeues the job; it resumes from its checkpoint' };
      if (kind === 'cancelled')
        return { requeued: false, message: 'cancelled by the user: not requeued, checkpoint kept' };
      if (kind !== 'time-limit') return undefined;
      const { events } = await readJournal(store.root);
      const used = journalEventsOf(events, 'requeue').filter((e) => e.cause === 'time-limit' && e.ok).length;
      if (used >= options.maxRequeues) {
        return {
          requeued: false,
          message: `not requeued: the time-limit requeue budget (${options.maxRequeues}, --max-requeues) is used up`,
        };
      }
      const result = await requeueJob(job.requeueTarget);
      // Journaled with its result: a refused requeue (a --no-requeue job) must not read as one.
      await appendJournal(store.root, 'requeue', {
        cause: 'time-limit',
        target: job.requeueTarget,
        attempt: used + 1,
        ok: result.ok,
        ...(result.ok ? {} : { error: result.message }),
      });
      if (!result.ok) {
        log(`ckpt: scontrol requeue ${job.requeueTarget} failed: ${result.message}`);
        return {
          requeued: false,
          message: `scontrol requeue failed (${result.message}); submit with --requeue, or resubmit by hand to resume`,
        };
      }
      return {
        requeued: true,
        message: `time limit near: checkpointed and requeued job ${job.requeueTarget} (${used + 1}/${options.maxRequeues})`,
      };
    },
  };
}

/**
 * A requeued run whose previous segment has a start but no exit in the journal: that run died
 * without a trace (node failure, or ckpt itself was SIGKILLed). Journaled as such.
 */
async function noteLostSegment(store: Store, job: SlurmJob): Promise<void> {
  // A first run (or one whose restart count is unknown) has no earlier segment of its own.
  if (!job.restartCount) return;
  const events = knownJournalEvents((await readJournal(store.root)).events);
  const lastStart = events.findLastIndex((e) => e.type === 'start');
  if (lastStart < 0) return;
  if (events.slice(lastStart).some((e) => e.type === 'exit' || e.type === 'run-end')) return;
  await appendJournal(store.root, 'interruption', { kind: 'node-failure', slurm: job, pid: process.pid });
}
