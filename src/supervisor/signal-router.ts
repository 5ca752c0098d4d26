/** Signals that ask ckpt to stop the job (checkpoint first). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
/** Signals passed on to the job. */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGQUIT',
  'SIGCONT',
];

/** What ckpt does with each kind of signal it receives while supervising. */
export interface SignalRoutes {
  /** Signals that warn of a deadline (a scheduler's warning); they are not forwarded. */
  warningSignals: readonly NodeJS.Signals[];
  stop(signal: NodeJS.Signals): void;
  warning(signal: NodeJS.Signals): void;
  forward(signal: NodeJS.Signals): void;
}

/** Installs ckpt's signal handlers for the time it supervises, and removes them after. */
export class SignalRouter {
  private readonly handlers = new Map<NodeJS.Signals, () => void>();

  install(routes: SignalRoutes): void {
    for (const signal of STOP_SIGNALS) this.on(signal, () => routes.stop(signal));
    for (const signal of routes.warningSignals) this.on(signal, () => routes.warning(signal));
    for (const signal of FORWARDED_SIGNALS) {
      if (!this.handlers.has(signal)) this.on(signal, () => routes.forward(signal));
    }
  }

  /** Removes the handlers; `keepIgnoringStops` leaves stop signals ignored until ckpt exits. */
  uninstall(options: { keepIgnoringStops: boolean }): void {
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.handlers.clear();
    if (options.keepIgnoringStops) for (const signal of STOP_SIGNALS) process.on(signal, () => {});
  }

  private on(signal: NodeJS.Signals, handler: () => void): void {
    if (this.handlers.has(signal)) return;
    this.handlers.set(signal, handler);
    process.on(signal, handler);
  }
}
