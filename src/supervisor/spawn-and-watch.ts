import { spawn } from 'node:child_process';
import type { CapturePoller } from './capture-poll.js';
import { awaitCommitsInFlight } from './commits-in-flight.js';
import { gracefulStop, requestStop } from './graceful-stop.js';
import type { ProgramExit } from './outcome.js';
import { startWatchdog } from './process-group.js';
import { requestCheckpoint } from './request-checkpoint.js';
import type { RunContext } from './run-context.js';
import { terminateGroup } from './stop-ladder.js';

/** After the program's exit, how long ckpt waits at most for its commits still in flight. */
const COMMIT_SETTLE_MAX_MS = 10_000;

/**
 * Starts `command` in a process group of its own and watches it until it has exited: a watchdog
 * against ckpt's own death, checkpoint requests on the `--every` schedule, capture looks, the
 * hooks' deadline watch. After the exit, workers it left behind are terminated, the app says what
 * the exit means, and a last look captures what it left. Never rejects: a program that cannot be
 * started is an exit with `startError`.
 */
export function spawnAndWatch(
  run: RunContext,
  poller: CapturePoller,
  command: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<ProgramExit> {
  const { options } = run;
  return new Promise<ProgramExit>((resolveExit) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: run.cwd,
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
      unwatch();
      watchdog?.stop();

      resolveExit(exit);
    };
    child.once('error', (error) => finish({ code: null, signal: null, startError: error.message }));
    const watchdog = child.pid === undefined ? undefined : startWatchdog(process.pid, child.pid);
    run.pgid = child.pid;
    run.state = 'running';
    const every =
      options.every === undefined
        ? undefined
        : setInterval(() => void requestCheckpoint(run, 'interval'), options.every);
    run.exited = false;
    const startedAt = Date.now();
    const poll = setInterval(() => {
      void poller.poll('running');
      poller.warnIfNothingCaptured(startedAt);
    }, poller.intervalMs);
    const unwatch = run.hooks.watch((reason) => requestStop(run, reason));
    child.once('exit', (code, signal) => {
      run.exited = true;
      clearInterval(poll);
      // Workers the program left behind must not outlive it.
      const pgid = run.pgid;
      void (async () => {
        if (pgid !== undefined) await terminateGroup(pgid, 'SIGTERM', options.killGrace);
        run.pgid = undefined;
        // A rank's commit may outlive its launcher (mpirun gives each rank a process group of
        // its own): its checkpoint belongs to this run, so let it land before the exit is told.
        // Within a stop's grace period only: SLURM's SIGKILL follows its SIGTERM after KillWait.
        const settleMs =
          run.stopDeadline === undefined
            ? COMMIT_SETTLE_MAX_MS
            : Math.max(0, Math.min(COMMIT_SETTLE_MAX_MS, run.stopDeadline - Date.now()));
        await awaitCommitsInFlight(run.store.root, run.lease.record.token, settleMs);
        const exit: ProgramExit = { code, signal };
        exit.meaning = await run.app.classifyExit(exit, run.cwd);
        // A clean exit vouches for the files left behind; after a crash or a kill only files
        // shown complete (renamed into place, --check, the app's check) are taken, and the
        // rest is set aside at the next start. The capture in flight finishes first.
        await poller.poll(exit.meaning === 'failed' ? 'after-crash' : 'clean-exit');
        finish(exit);
      })();
    });
    if (run.stopRequested) void gracefulStop(run, run.stopRequested);
  });
}
