/**
 * The conformance suite of ckpt's app adapters that drive a real program (GROMACS, LAMMPS,
 * Quantum ESPRESSO, NWChem): one call registers the same kill-and-resume scenarios for each, so
 * every adapter is held to the same bar, and an app's test file adds only what is specific to it
 * (how it stops, what it leaves, how its result is compared).
 *
 * (a) the bare run is the reference; (b) SIGTERM to ckpt at a random moment: ckpt exits 75, the
 * same command resumes and ends at the reference's result; (c) the app SIGKILLed after a capture:
 * ckpt restarts it once from a checkpoint, and it ends there too; (d) the node crashes (ckpt and
 * the app SIGKILLed) and the app's newest checkpoint file is torn: the restore sets it aside and
 * resumes from ckpt's copy (where the app itself cannot restart from the torn file, that is shown
 * first on a copy).
 */
import { it } from 'vitest';
import type { AppRuns, AppWorkspace, Timed, TornCheckpoint } from './app-runs.js';
import type { CkptExit } from './cli.js';

/** What an app adds to the shared scenarios. */
export interface AppConformance<R> {
  /** The app's process name under ckpt, for the titles. */
  app: string;
  /** How the app stops on ckpt's request, for (b)'s title ("mdrun checkpoints"). */
  stopsBy: string;
  /** Checks on the reference run beyond "it finished". */
  reference?(ref: Timed<R>): void;
  /** The stopped run's evidence that the app stopped as it should, looked at before the resume. */
  stopped?(stopped: CkptExit, w: AppWorkspace, context: string): void;
  /** After (b): evidence that the run resumed rather than started over (`resumed`: its run). */
  resumedAfterStop?(ref: Timed<R>, resumed: CkptExit, w: AppWorkspace, context: string): void;
  /** After (c): the same. */
  restartedAfterKill?(ref: Timed<R>, done: CkptExit, w: AppWorkspace, context: string): void;
  /** After (d): the same. */
  resumedAfterCrash?(ref: Timed<R>, resumed: CkptExit, w: AppWorkspace, context: string): void;
  /** How long (c) may wait for ckpt's first capture. */
  captureTimeoutMs: number;
  /**
   * The app writes nothing when stopped (NWChem is aborted): (b) stops it only after ckpt's first
   * capture, so that there is something to resume.
   */
  nothingOnStop?: boolean;
  /** The file a crash tears in (d), and what the app itself does with it. */
  torn: TornCheckpoint & { what: string };
  /**
   * The run in `w` ended at the reference's result. `output` is the app's output: of both starts
   * in (b), of the run in (c), of the resumed run in (d).
   */
  sameResult(ref: Timed<R>, w: AppWorkspace, output: string, context: string): void;
}

/** Registers (a)–(d) for one app; call inside its describe block, after {@link useAppRuns}. */
export function describeConformance<R>(runs: AppRuns<R>, app: AppConformance<R>): void {
  it(
    '(a) the bare run finishes and is the reference',
    async () => {
      const ref = await runs.uninterrupted();
      app.reference?.(ref);
      console.log(`[${app.app}] reference run: ${ref.ms} ms`);
    },
    runs.timeoutMs,
  );

  runs.itRuns(
    `(b) SIGTERM to ckpt at a random moment: ${app.stopsBy}, ckpt exits 75; the same command resumes and ends at the reference's result`,
    async (ref, first) => {
      const { stopped, resumed, context, w } = await runs.stopThenResume(
        first,
        (halt, stopContext, used) => app.stopped?.(halt, used, stopContext),
        app.nothingOnStop ? { afterFirstCaptureMs: app.captureTimeoutMs } : {},
      );
      app.resumedAfterStop?.(ref, resumed, w, context);
      app.sameResult(ref, w, stopped.stdout + resumed.stdout, context);
    },
  );

  runs.itRuns(
    `(c) ${app.app} SIGKILLed at a random moment after a capture: ckpt restarts it from the last checkpoint, and it ends at the reference's result`,
    async (ref, first) => {
      const { done, context, w } = await runs.killThenRestart(first, app.captureTimeoutMs);
      app.restartedAfterKill?.(ref, done, w, context);
      app.sameResult(ref, w, done.stdout, context);
    },
  );

  runs.itRuns(
    `(d) a crash leaves a torn ${app.torn.what}: ckpt sets it aside and resumes from its own copy, ending at the reference's result`,
    async (ref, w) => {
      const { resumed, context } = await runs.crashTearThenResume(w, app.torn);
      app.resumedAfterCrash?.(ref, resumed, w, context);
      app.sameResult(ref, w, resumed.stdout, context);
    },
  );
}
