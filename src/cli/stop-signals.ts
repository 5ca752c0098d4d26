/** The signals that ask a process to stop, which `ckpt commit` outlasts once. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** Where bin/ckpt leaves the stop signals it held before the CLI loaded. */
const EARLY = Symbol.for('ckpt.earlyStopSignals');

/** What bin/ckpt holds: when the first stop signal came, and its handlers. */
interface EarlyStopSignals {
  at: number | undefined;
  handlers: Map<NodeJS.Signals, () => void>;
}

/** A stop signal held off while a commit finishes: see {@link holdStopSignals}. */
export interface HeldStopSignals {
  /** When the first stop signal came, if one did. */
  stoppedAt(): number | undefined;
  /** Back to the default behaviour; a signal held meanwhile is not raised again. */
  release(): void;
}

/**
 * Lets a commit finish when a stop signal comes: the first SIGTERM, SIGINT or SIGHUP is noted
 * (and said on stderr), the second ends the process at once by that signal. A job that stops
 * signals all its processes, a commit started in the grace period included (SLURM signals every
 * process of the job; OpenMPI's mpirun signals each rank's process group), and a commit killed
 * half-way loses the checkpoint the job stopped to make. Nothing partial is ever visible either way.
 */
export function holdStopSignals(log: (line: string) => void): HeldStopSignals {
  // bin/ckpt held them from its first line: a signal that came meanwhile counts.
  const early = (globalThis as Record<symbol, EarlyStopSignals | undefined>)[EARLY];
  let at = early?.at;
  if (early) {
    for (const [signal, handler] of early.handlers) process.off(signal, handler);
    early.handlers.clear();
    if (at !== undefined) log('ckpt commit: stop signal received; finishing this commit first');
  }
  const handlers = new Map<NodeJS.Signals, () => void>();
  const release = () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    handlers.clear();
  };
  for (const signal of STOP_SIGNALS) {
    const handler = () => {
      if (at !== undefined) {
        release();
        process.kill(process.pid, signal);
        return;
      }
      at = Date.now();
      log(`ckpt commit: ${signal} received; finishing this commit first (a second ${signal} ends it now)`);
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  return { stoppedAt: () => at, release };
}
