import { acquireLease, appendJournal, currentWriter } from '../store/index.js';
import { pruneAfterExit } from './apply-keep.js';
import { CapturePoller } from './capture-poll.js';
import { decideAfterExit, newRestartMemory, type RestartMemory } from './decide-after-exit.js';
import { requestStop } from './graceful-stop.js';
import { DEFAULT_STOP_MEANING } from './hooks.js';
import type { ProgramExit, RunOutcome } from './outcome.js';
import { prepareRestore } from './prepare-restore.js';
import { requestFromHandlers, signalGroup } from './process-group.js';
import {
  createRunContext,
  newestSeq,
  type ResolvedDeps,
  type RunContext,
  resolveDeps,
  type SupervisorDeps,
} from './run-context.js';
import { buildSegmentEnv } from './segment-env.js';
import { SignalRouter, type SignalRoutes } from './signal-router.js';
import { spawnAndWatch } from './spawn-and-watch.js';

/**
 * Where a run is: restoring and starting the program, running it, stopping it on purpose,
 * waiting to restart it after a crash, or done.
 */
export type SupervisorState = 'starting' | 'running' | 'stopping' | 'backoff' | 'done';

/**
 * Runs a program under supervision: restores its last checkpoint, starts it in its own process
 * group with the protocol's environment, asks it for checkpoints, captures its files, restarts
 * it after a crash, and stops it gracefully when ckpt is asked to stop. Each phase lives in a
 * module of its own (spawn-and-watch.ts, capture-poll.ts, graceful-stop.ts, decide-after-exit.ts);
 * this is the loop that runs them.
 */
export class Supervisor {
  private readonly deps: ResolvedDeps;
  private current: RunContext | undefined;
  private readonly signals = new SignalRouter();

  constructor(deps: SupervisorDeps) {
    this.deps = resolveDeps(deps);
  }

  /** Where the run is now ('starting' before it begins). */
  get state(): SupervisorState {
    return this.current?.state ?? 'starting';
  }

  /** Supervises the program until the run has an outcome; holds the store's lease meanwhile. */
  async run(): Promise<RunOutcome> {
    const lease = await acquireLease(this.deps.store.root, this.deps.hooks.holderProbe);
    const run = createRunContext(this.deps, lease);
    this.current = run;
    const poller = new CapturePoller(run);
    const memory = newRestartMemory();
    this.signals.install(routeSignals(run));
    try {
      for (;;) {
        const exit = run.stopRequested ? { code: null, signal: null } : await runSegment(run, poller, memory);
        const outcome = await decideAfterExit(run, memory, exit);
        if (outcome) {
          await appendJournal(run.store.root, 'run-end', {
            outcome: outcome.kind,
            exit: outcome.exit,
            restarts: memory.restarts,
            message: outcome.message,
            pid: process.pid,
          });
          return outcome;
        }
      }
    } finally {
      run.state = 'done';
      // After a deliberate stop, SLURM's own SIGTERM (it follows `scontrol requeue` within ~40 ms)
      // must not kill ckpt before it has released the lease and reported.
      this.signals.uninstall({ keepIgnoringStops: run.stopRequested !== undefined });
      await lease.release();
    }
  }
}

/** One start of the program, from restore to exit. */
async function runSegment(
  run: RunContext,
  poller: CapturePoller,
  memory: RestartMemory,
): Promise<ProgramExit> {
  const { store, options, log, app, cwd } = run;
  run.state = 'starting';
  const restore = await prepareRestore(store, run.restoreDir, app.capture.globs, {
    failing: memory.failing,
    asideOwnFiles: memory.asideOwnFiles,
  });
  memory.asideOwnFiles = false;
  for (const s of restore.skipped) log(`ckpt: skipped checkpoint #${s.seq}: ${s.reason}`);
  if (restore.setAside.length > 0) {
    const names = restore.setAside.slice(0, 5).join(', ') + (restore.setAside.length > 5 ? ', …' : '');
    log(
      `ckpt: set aside ${restore.setAside.length} newer file(s) into .ckpt-aside/ (${names}): changed after ${restore.manifest ? `checkpoint #${restore.manifest.seq}` : 'the program failed on them'} and not shown complete (not renamed into place; --check CMD can vouch for such files)`,
    );
  }
  await poller.markRestored(restore.manifest?.step ?? 0);
  memory.segmentStart = {
    seq: restore.manifest?.seq,
    ownFiles: restore.manifest === undefined && poller.hasFiles,
    at: Date.now(),
  };
  await app.beforeStart(cwd);
  const command = await app.command(run.command, { resumeFrom: restore.manifest, cwd });
  const stepKind = restore.manifest?.meta.stepKind === 'capture-counter' ? 'capture-counter' : 'program';
  const env = buildSegmentEnv({
    base: process.env,
    appEnv: app.env(),
    hooksEnv: await run.hooks.env(),
    storeRoot: store.root,
    signal: options.signal,
    restarts: memory.restarts,
    leaseToken: run.lease.record.token,
    restore: restore.manifest && { dir: run.restoreDir, step: restore.manifest.step, stepKind },
  });
  if (restore.manifest) {
    const counter = stepKind === 'capture-counter';
    log(
      `ckpt: resuming from checkpoint #${restore.manifest.seq} (${counter ? `capture ${restore.manifest.step}` : `step ${restore.manifest.step}`})`,
    );
  }
  const started = Date.now();
  const newestBefore = await newestSeq(store);
  await appendJournal(store.root, 'start', {
    writer: currentWriter(),
    command,
    restarts: memory.restarts,
    resumeFrom: restore.manifest
      ? { seq: restore.manifest.seq, step: restore.manifest.step, stepKind, committed: restore.manifest.time }
      : null,
    skipped: restore.skipped,
  });
  const exit = await spawnAndWatch(run, poller, command, env);
  await pruneAfterExit(run);
  memory.progressed = (await newestSeq(store)) > newestBefore;
  await appendJournal(store.root, 'exit', { ...exit, runtimeMs: Date.now() - started, pid: process.pid });
  return exit;
}

/** What each signal to ckpt means while it supervises (see signal-router.ts). */
function routeSignals(run: RunContext): SignalRoutes {
  const { hooks } = run;
  return {
    warningSignals: hooks.warningSignals,
    stop: (signal) => {
      if (run.stopRequested) {
        requestStop(run, { kind: 'signal', signal, meaning: 'again' });
        return;
      }
      void (async () => {
        const meaning = (await hooks.classifySignal(signal).catch(() => undefined)) ?? DEFAULT_STOP_MEANING;
        requestStop(run, { kind: 'signal', signal, meaning });
      })();
    },
    warning: (signal) => requestStop(run, { kind: 'deadline', detail: `${signal} from the scheduler` }),
    forward: (signal) => {
      if (run.pgid === undefined) return;
      // USR1/USR2 kill a process that does not handle them: pass them only to those that do.
      if (signal === 'SIGUSR1' || signal === 'SIGUSR2') void requestFromHandlers(run.pgid, signal);
      else signalGroup(run.pgid, signal);
    },
  };
}
