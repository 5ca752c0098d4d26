import { noteJournal, type Store } from '../store/index.js';

/** Says something once per run (once per `key`, by default the code): on stderr and in the journal. */
export type WarnOnce = (code: string, message: string, key?: string) => Promise<void>;

/** A {@link WarnOnce} that writes through `log` and notes each warning in the store's journal. */
export function createWarnOnce(store: Store, log: (line: string) => void): WarnOnce {
  const warned = new Set<string>();
  return async (code, message, key = code) => {
    if (warned.has(key)) return;
    warned.add(key);
    log(`ckpt: warning: ${message}`);
    await noteJournal(store, 'warning', { code, message, pid: process.pid });
  };
}
