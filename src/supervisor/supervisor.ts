import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import {
  acquireLease,
  appendJournal,
  currentWriter,
  type Lease,
  noteJournal,
  pruneStore,
  type Store,
} from '../store/index.js';
import type { AppBehavior, CapturePlan, ExitMeaning } from './app-behavior.js';
import { type CaptureMode, FileCapturer } from './capture.js';
import type { StopReason, SupervisorHooks } from './hooks.js';
import { describeStop, type ProgramExit, type RunOutcome } from './outcome.js';
import { describeExit, outcomeMessage } from './outcome-messages.js';
import { prepareRestore } from './prepare-restore.js';
import { requestFromHandlers, signalGroup, startWatchdog } from './process-group.js';
import { decideRestart } from './restart-decision.js';
import { isQuickFailure, RestartLoopTracker, type SegmentStart } from './restart-loop.js';
import type { RunOptions } from './run-options.js';
import { buildSegmentEnv } from './segment-env.js';
import { SignalRouter, type SignalRoutes } from './signal-router.js';
import { COMMIT_SETTLE_MS, STOP_POLL_MS, sleep, terminateGroup } from './stop-ladder.js';

/** How often ckpt looks at captured files (and checks its lease) while the program runs. */
const POLL_MS = 250;
/** Without files to capture only the lease check remains: once a second is enough. */
const IDLE_POLL_MS = 1000;
/** How often the lease's mtime says "alive" (status measures lost work after ckpt's own death by it). */
const LEASE_TOUCH_MS = 1000;
/** Without --every, a --capture glob that has matched nothing after this long is reported. */
export const NOTHING_MATCHED_AFTER_MS = 30_000;

export type SupervisorState = 'starting' | 'running' | 'stopping' | 'backoff' | 'done';

export interface SupervisorDeps {
  store: Store;
  options: RunOptions;
  command: readonly string[];
  cwd: string;
  /** Where progress lines go (stderr in the CLI). */
  log: (line: string) => void;
  /** A scheduler integration (SLURM), if any. */
  hooks?: SupervisorHooks;
  /** How to drive a specific app (GROMACS, LAMMPS…), if any. */
  app?: AppBehavior;
}

/**
 * Runs a program under supervision: restores its last checkpoint, starts it in its own process
 * group with the protocol's environment, asks it for checkpoints, captures its files, restarts
 * it after a crash, and stops it gracefully when ckpt is asked to stop.
 */
export class Supervisor {
  state: SupervisorState = 'starting';
  private lease: Lease | undefined;
  private pgid: number | undefined;
  private stopRequested: StopReason | undefined;
  private restarts = 0;
  /** Crashes since the program last committed a new checkpoint: the backoff's exponent. */
  private crashesWithoutProgress = 0;
  /** Whether the last segment committed a checkpoint (then a crash starts the backoff afresh). */
  private progressed = false;
  private step = 0;
  private pruning = false;
  private capturer: FileCapturer | undefined;
  /** The capture in flight, if any: at most one at a time, and exits and stops wait for it. */
  private capturing: Promise<void> | undefined;
  /** Set the moment the program exits: no look after that is a "running" one. */
  private exited = true;
  private readonly warned = new Set<string>();
  /** Checkpoints the program failed on right after starting (the restart loop), with why. */
  private readonly failing = new Map<number, string>();
  private asideOwnFiles = false;
  private segmentStart: SegmentStart = { seq: undefined, ownFiles: false, at: 0 };
  private readonly loop = new RestartLoopTracker();
  private touchedAt = 0;
  private wake: (() => void) | undefined;
  private readonly signals = new SignalRouter();

  constructor(private readonly deps: SupervisorDeps) {}

  async run(): Promise<RunOutcome> {
    const { store, options } = this.deps;
    this.lease = await acquireLease(store.root, this.deps.hooks?.holderProbe);
    this.capturer = new FileCapturer(store, this.lease, this.restoreDir, this.capturePlan, {
      settleMs: options.settle,
      compression: options.compress,
      check: options.check,
      stepFrom: options.stepFrom,
      warn: (code, message) => void this.warnOnce(code, message, `${code}:${message}`),
    });
    this.signals.install(this.routeSignals());
    try {
      for (;;) {
        const exit = this.stopRequested ? { code: null, signal: null } : await this.runSegment();
        const outcome = await this.decide(exit);
        if (outcome) {
          await appendJournal(store.root, 'run-end', {
            outcome: outcome.kind,
            exit: outcome.exit,
            restarts: this.restarts,
            message: outcome.message,
            pid: process.pid,
          });
          return outcome;
        }
      }
    } finally {
      this.state = 'done';
      // After a deliberate stop, SLURM's own SIGTERM (it follows `scontrol requeue` within ~40 ms)
      // must not kill ckpt before it has released the lease and reported.
      this.signals.uninstall({ keepIgnoringStops: this.stopRequested !== undefined });
      await this.lease.release();
    }
  }

  private get restoreDir(): string {
    return this.deps.options.restoreDir ?? resolve(this.deps.cwd);
  }

  /** One start of the program, from restore to exit. */
  private async runSegment(): Promise<ProgramExit> {
    const { store, options, command, log } = this.deps;
    this.state = 'starting';
    const app = this.deps.app;
    const restore = await prepareRestore(store, this.restoreDir, this.capturePlan.globs, {
      failing: this.failing,
      asideOwnFiles: this.asideOwnFiles,
    });
    this.asideOwnFiles = false;
    for (const s of restore.skipped) log(`ckpt: skipped checkpoint #${s.seq}: ${s.reason}`);
    if (restore.setAside.length > 0) {
      const names = restore.setAside.slice(0, 5).join(', ') + (restore.setAside.length > 5 ? ', …' : '');
      log(
        `ckpt: set aside ${restore.setAside.length} newer file(s) into .ckpt-aside/ (${names}): changed after ${restore.manifest ? `checkpoint #${restore.manifest.seq}` : 'the program failed on them'} and not shown complete (not renamed into place; --check CMD can vouch for such files)`,
      );
    }
    this.step = restore.manifest?.step ?? 0;
    await this.capturer?.markCurrent();
    this.segmentStart = {
      seq: restore.manifest?.seq,
      ownFiles: restore.manifest === undefined && (this.capturer?.hasFiles ?? false),
      at: Date.now(),
    };
    await app?.beforeStart?.(this.deps.cwd);
    const commandNow = app?.command
      ? await app.command(command, { resumeFrom: restore.manifest, cwd: this.deps.cwd })
      : [...command];
    const env = buildSegmentEnv({
      base: process.env,
      appEnv: app?.env?.(),
      hooksEnv: await this.deps.hooks?.env?.(),
      storeRoot: store.root,
      signal: options.signal,
      restarts: this.restarts,
      leaseToken: this.lease!.record.token,
      restore: restore.manifest && {
        dir: this.restoreDir,
        step: restore.manifest.step,
        stepKind: restore.manifest.meta.stepKind === 'capture-counter' ? 'capture-counter' : 'program',
      },
    });
    if (restore.manifest) {
      const counter = restore.manifest.meta.stepKind === 'capture-counter';
      log(
        `ckpt: resuming from checkpoint #${restore.manifest.seq} (${counter ? `capture ${restore.manifest.step}` : `step ${restore.manifest.step}`})`,
      );
    }
    const started = Date.now();
    const newestBefore = (await store.listSeqs()).at(-1) ?? 0;
    await appendJournal(store.root, 'start', {
      writer: currentWriter(),
      command: commandNow,
      restarts: this.restarts,
      resumeFrom: restore.manifest
        ? {
            seq: restore.manifest.seq,
            step: restore.manifest.step,
            stepKind: restore.manifest.meta.stepKind === 'capture-counter' ? 'capture-counter' : 'program',
            committed: restore.manifest.time,
          }
        : null,
      skipped: restore.skipped,
    });
    const exit = await this.spawnAndWatch(commandNow, env);
    await this.pruneIfOver();
    this.progressed = ((await store.listSeqs()).at(-1) ?? 0) > newestBefore;
    await appendJournal(store.root, 'exit', { ...exit, runtimeMs: Date.now() - started, pid: process.pid });
    return exit;
  }

  private spawnAndWatch(command: readonly string[], env: NodeJS.ProcessEnv): Promise<ProgramExit> {
    const { options } = this.deps;
    return new Promise<ProgramExit>((resolveExit) => {
      const child = spawn(command[0]!, command.slice(1), {
        cwd: this.deps.cwd,
        env,
        stdio: 'inherit',
        detached: true, // its own process group: signals reach all of it, and only it
      });

      let settled = false;
      const finish = (exit: ProgramExit): void => {
        if (settled) return;
        settled = true;
        clearInterval(every);
        clearInterval(poll);
        unwatch?.();
        watchdog?.stop();

        resolveExit(exit);
      };
      child.once('error', (error) => finish({ code: null, signal: null, startError: error.message }));
      const watchdog = child.pid === undefined ? undefined : startWatchdog(process.pid, child.pid);
      this.pgid = child.pid;
      this.state = 'running';
      const every =
        options.every === undefined
          ? undefined
          : setInterval(() => void this.requestCheckpoint('interval'), options.every);
      const pollMs = this.capturePlan.globs.length > 0 ? POLL_MS : IDLE_POLL_MS;
      this.exited = false;
      const startedAt = Date.now();
      const poll = setInterval(() => {
        void this.pollCapture('running');
        this.warnIfNothingCaptured(startedAt);
      }, pollMs);
      const unwatch = this.deps.hooks?.watch?.((reason) => this.requestStop(reason));
      child.once('exit', (code, signal) => {
        this.exited = true;
        clearInterval(poll);
        // Workers the program left behind must not outlive it.
        const pgid = this.pgid;
        void (async () => {
          if (pgid !== undefined) await this.terminateGroup(pgid, 'SIGTERM');
          this.pgid = undefined;
          const exit: ProgramExit = { code, signal };
          exit.meaning = await this.meaningOf(exit);
          // A clean exit vouches for the files left behind; after a crash or a kill only files
          // shown complete (renamed into place, --check, the app's check) are taken, and the
          // rest is set aside at the next start. The capture in flight finishes first.
          await this.pollCapture(exit.meaning === 'failed' ? 'after-crash' : 'clean-exit');
          finish(exit);
        })();
      });
      if (this.stopRequested) void this.stop(this.stopRequested);
    });
  }

  /** Asks the program for a checkpoint; returns how many of its processes handle the signal. */
  private async requestCheckpoint(reason: 'interval' | 'stop'): Promise<number> {
    if (this.pgid === undefined) return 0;
    const signal = this.deps.app?.checkpointSignal ?? this.deps.options.signal;
    if (signal === false) return 0; // the app checkpoints on its own schedule
    let sent = await requestFromHandlers(this.pgid, signal);
    // Processes outside the group (srun's tasks) are reached through the scheduler.
    if (this.deps.hooks?.deliver?.(signal)) sent++;
    if (sent === 0 && reason === 'interval') {
      await this.warnOnce(
        'NO_HANDLER',
        `--every asks for checkpoints with ${signal}, but no process of the program handles it: nothing is checkpointed on that schedule. Handle ${signal} in the program (docs/protocol.md), or let --capture pick up the files it writes on its own.`,
      );
    }
    await appendJournal(this.deps.store.root, 'checkpoint-requested', { reason, signal, handledBy: sent });
    return sent;
  }

  /**
   * One look for files to capture, never two at once: a look while one is in flight is skipped,
   * and the exit's look waits for it. Captured checkpoints are pruned inside the same flight.
   */
  private async pollCapture(mode: CaptureMode): Promise<void> {
    if (mode === 'running') {
      if (this.capturing || this.exited) return;
      // Read once: a look still in flight when the program exits must stay a "running" one.
      if (this.pgid === undefined) return;
      if (!this.stopRequested) await this.checkFenced();
    } else if (this.capturing) {
      await this.capturing;
    }
    if (!this.capturer?.enabled) return;
    const pgid = this.pgid;
    const flight = (async () => {
      try {
        const result = await this.capturer!.poll(mode, mode === 'running' ? pgid : undefined, this.step + 1);
        if (result) {
          this.step = result.manifest.step;
          await this.prune();
          this.deps.log(
            `ckpt: captured ${result.files.length} file(s) as checkpoint #${result.manifest.seq}`,
          );
        }
      } catch (error) {
        this.deps.log(`ckpt: capture failed: ${(error as Error).message}`);
      }
    })();
    this.capturing = flight;
    try {
      await flight;
    } finally {
      if (this.capturing === flight) this.capturing = undefined;
    }
  }

  /** Warns once when --capture has matched nothing by the first interval (or 30 s). */
  private warnIfNothingCaptured(startedAt: number): void {
    const capturer = this.capturer;
    if (!capturer?.enabled || capturer.matchedAnything || this.deps.app) return;
    const after = this.deps.options.every ?? NOTHING_MATCHED_AFTER_MS;
    if (Date.now() - startedAt < after) return;
    void this.warnOnce(
      'CAPTURE_MATCHES_NOTHING',
      `--capture ${this.deps.options.capture.map((g) => `'${g}'`).join(' ')} has matched no file after ${Math.round((Date.now() - startedAt) / 1000)}s (relative to ${this.restoreDir}): nothing is being checkpointed. Check the pattern and the working directory.`,
    );
  }

  /** Says something once per run: on stderr and in the journal. */
  private async warnOnce(code: string, message: string, key = code): Promise<void> {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.deps.log(`ckpt: warning: ${message}`);
    await noteJournal(this.deps.store, 'warning', { code, message, pid: process.pid });
  }

  /**
   * Applies `--keep` to the program's own commits (`ckpt commit`, the library) once the program
   * has exited: while it runs, a commit of its own may be reusing chunks that pruning would free.
   */
  private async pruneIfOver(): Promise<void> {
    if (this.pruning) return;
    this.pruning = true;
    try {
      if ((await this.deps.store.listSeqs()).length > this.deps.options.keep) await this.prune();
    } catch (error) {
      this.deps.log(`ckpt: pruning failed: ${(error as Error).message}`);
    } finally {
      this.pruning = false;
    }
  }

  private async prune(): Promise<void> {
    await pruneStore(this.deps.store, this.lease!, { keepLast: this.deps.options.keep });
  }

  /** A stale copy of a requeued job must stop at once: its commits would be refused anyway. */
  private async checkFenced(): Promise<void> {
    try {
      await this.lease!.assertHeld();
      if (Date.now() - this.touchedAt >= LEASE_TOUCH_MS) {
        this.touchedAt = Date.now();
        await this.lease!.touch();
      }
    } catch (error) {
      this.requestStop({ kind: 'fenced', detail: (error as Error).message });
    }
  }

  /** Records why the program must stop and starts the stop (once; a second stop kills). */
  private requestStop(reason: StopReason): void {
    if (this.stopRequested) {
      if (reason.kind === 'signal' && this.pgid !== undefined) signalGroup(this.pgid, 'SIGKILL');
      return;
    }
    this.stopRequested = reason;
    this.wake?.();
    void this.stop(reason);
  }

  /** Graceful stop: ask for a checkpoint, wait up to the grace period, then TERM, then KILL. */
  private async stop(reason: StopReason): Promise<void> {
    if (this.state === 'stopping' || this.pgid === undefined) return;
    this.state = 'stopping';
    const pgid = this.pgid;
    // The pid tells this supervisor's events from a stale copy's (fenced after a node failure).
    await appendJournal(this.deps.store.root, 'stop', { reason, pid: process.pid });
    if (reason.kind === 'fenced') {
      this.deps.log(`ckpt: ${reason.detail} Stopping this stale copy of the job.`);
      await this.terminateGroup(pgid, 'SIGTERM');
      return;
    }
    this.deps.log(
      `ckpt: ${describeStop(reason)}; asking the program to checkpoint (grace ${this.graceFor(reason) / 1000}s)`,
    );
    // Read before asking: a program that commits at once must not be mistaken for one that did not.
    const before = (await this.deps.store.listSeqs()).at(-1) ?? 0;
    if (this.deps.app?.requestStop) {
      // The app has its own way to write a checkpoint and stop: use it, then wait for the exit.
      await this.deps.app.requestStop({ pgid, cwd: this.deps.cwd });
      const until = Date.now() + this.graceFor(reason);
      while (Date.now() < until && this.pgid === pgid) await sleep(STOP_POLL_MS);
      // No second polite signal: some apps (GROMACS) answer it with a worse checkpoint.
      if (this.pgid === pgid) await this.terminateGroup(pgid, 'SIGKILL');
      return;
    }
    const handled = await this.requestCheckpoint('stop');
    // A program that does not handle the checkpoint signal cannot answer it: no point waiting.
    const grace = handled > 0 ? this.graceFor(reason) : 0;
    if (handled === 0)
      this.deps.log(`ckpt: the program does not handle ${this.deps.options.signal}; stopping it now`);
    const until = Date.now() + grace;
    while (Date.now() < until && this.pgid === pgid) {
      if (((await this.deps.store.listSeqs()).at(-1) ?? 0) > before) {
        // Let the committer finish (journal line, exit) before the stop signal arrives.
        await sleep(COMMIT_SETTLE_MS);
        break;
      }
      await sleep(STOP_POLL_MS);
    }
    if (this.pgid === pgid) await this.terminateGroup(pgid, 'SIGTERM');
  }

  private get capturePlan(): CapturePlan {
    return this.deps.app?.capture ?? { globs: this.deps.options.capture };
  }

  /** What an exit means: the app decides; else 0 finished, anything else failed. */
  private async meaningOf(exit: ProgramExit): Promise<ExitMeaning> {
    if (this.deps.app?.classifyExit) return this.deps.app.classifyExit(exit, this.deps.cwd);
    return exit.code === 0 ? 'finished' : 'failed';
  }

  private graceFor(reason: StopReason): number {
    return this.deps.hooks?.graceMs?.(reason, this.deps.options.grace) ?? this.deps.options.grace;
  }

  private terminateGroup(pgid: number, first: NodeJS.Signals): Promise<void> {
    return terminateGroup(pgid, first, this.deps.options.killGrace);
  }

  /** After an exit: the outcome, or undefined to restart. */
  private async decide(exit: ProgramExit): Promise<RunOutcome | undefined> {
    const { options, log, store } = this.deps;
    const describe = describeExit(exit);
    if (exit.startError) {
      return {
        kind: 'cannot-start',
        exit,
        restarts: this.restarts,
        message: outcomeMessage.cannotStart(this.deps.command[0], exit.startError),
      };
    }
    if (exit.meaning === 'finished' || (exit.meaning === undefined && exit.code === 0)) {
      return { kind: 'finished', exit, restarts: this.restarts, message: outcomeMessage.finished() };
    }
    if (this.stopRequested) return this.afterStop(this.stopRequested, exit, describe);
    if (exit.meaning === 'stopped') {
      // Stopped by itself with a checkpoint (e.g. gmx -maxh): resumable, not a crash.
      return {
        kind: 'interrupted',
        exit,
        restarts: this.restarts,
        message: outcomeMessage.stoppedWithCheckpoint(describe),
      };
    }
    const decision = decideRestart(
      {
        restarts: this.restarts,
        crashesWithoutProgress: this.crashesWithoutProgress,
        progressed: this.progressed,
      },
      options,
    );
    if (decision.action === 'give-up') {
      return {
        kind: 'failed',
        exit,
        restarts: this.restarts,
        message: outcomeMessage.budgetUsedUp(describe, options.maxRestarts),
      };
    }
    const loopEnd = await this.checkRestartLoop(exit);
    if (loopEnd) return loopEnd;
    const delay = decision.delayMs;
    this.crashesWithoutProgress = decision.crashesWithoutProgress;
    this.restarts = decision.restarts;
    log(
      `ckpt: the program crashed (${describe}); restart ${this.restarts}/${options.maxRestarts} in ${delay / 1000}s`,
    );
    await appendJournal(store.root, 'restart', { attempt: this.restarts, delayMs: delay, after: exit });
    this.state = 'backoff';
    await new Promise<void>((r) => {
      const timer = setTimeout(r, delay);
      this.wake = () => {
        clearTimeout(timer);
        r();
      };
    });
    this.wake = undefined;
    if (this.stopRequested) return this.afterStop(this.stopRequested, exit, 'before restarting');
    return undefined;
  }

  /**
   * The restart loop: a program that fails twice in a row right after starting from the same state
   * gives that state up (docs/protocol.md). Returns an outcome when no state is left to try.
   */
  private async checkRestartLoop(exit: ProgramExit): Promise<RunOutcome | undefined> {
    const start = this.segmentStart;
    const verdict = this.loop.record(start, isQuickFailure(exit, start, Date.now(), this.progressed), exit);
    if (verdict.action === 'none') return undefined;
    const { store, log } = this.deps;
    if (verdict.action === 'set-aside-own-files') {
      this.asideOwnFiles = true;
      log(
        'ckpt: the program failed twice right after starting on its own files; setting them aside for a fresh start',
      );
      await noteJournal(store, 'restart-loop', { action: verdict.action, pid: process.pid });
      return undefined;
    }
    this.failing.set(verdict.seq, verdict.why);
    log(`ckpt: checkpoint #${verdict.seq} marked failing: ${verdict.why}; resuming from an older one`);
    await noteJournal(store, 'checkpoint-failing', { seq: verdict.seq, why: verdict.why, pid: process.pid });
    const { usable } = await store.candidates();
    if (usable.length > 0 && usable.every((m) => this.failing.has(m.seq))) {
      return {
        kind: 'failed',
        exit,
        restarts: this.restarts,
        message: outcomeMessage.everyCheckpointFailing(usable.map((m) => m.seq)),
      };
    }
    return undefined;
  }

  /** The outcome of a deliberate stop, after the hooks had their say (requeue…). */
  private async afterStop(reason: StopReason, exit: ProgramExit, describe: string): Promise<RunOutcome> {
    const base = { exit, restarts: this.restarts };
    if (reason.kind === 'fenced') {
      return {
        kind: 'fenced',
        ...base,
        message: outcomeMessage.fenced(reason.detail),
      };
    }
    const after = await this.deps.hooks?.afterStop?.(reason, exit);
    if (after?.requeued) return { kind: 'requeued', ...base, message: after.message };
    return {
      kind: 'interrupted',
      ...base,
      message: outcomeMessage.interrupted(reason, describe, after?.message),
    };
  }

  /** What each signal to ckpt means while it supervises (see signal-router.ts). */
  private routeSignals(): SignalRoutes {
    const hooks = this.deps.hooks;
    return {
      warningSignals: hooks?.warningSignals ?? [],
      stop: (signal) => {
        if (this.stopRequested) {
          this.requestStop({ kind: 'signal', signal, meaning: 'again' });
          return;
        }
        void (async () => {
          const meaning = (await hooks?.classifySignal?.(signal).catch(() => undefined)) ?? 'stop requested';
          this.requestStop({ kind: 'signal', signal, meaning });
        })();
      },
      warning: (signal) => this.requestStop({ kind: 'deadline', detail: `${signal} from the scheduler` }),
      forward: (signal) => {
        if (this.pgid === undefined) return;
        // USR1/USR2 kill a process that does not handle them: pass them only to those that do.
        if (signal === 'SIGUSR1' || signal === 'SIGUSR2') void requestFromHandlers(this.pgid, signal);
        else signalGroup(this.pgid, signal);
      },
    };
  }
}
