import type { StopReason } from './hooks.js';
import { describeStop, type ProgramExit } from './outcome.js';

/** `killed by SIGSEGV`, `exit code 1`. */
export function describeExit(exit: ProgramExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

/**
 * Every message a {@link import('./outcome.js').RunOutcome} carries, built in one place.
 */
export const outcomeMessage = {
  /** The program could not be started at all. */
  cannotStart: (program: string | undefined, error: string): string => `cannot start ${program}: ${error}`,
  /** The program finished its work. */
  finished: (): string => 'the program finished',
  /** The program stopped by itself with a checkpoint (e.g. gmx -maxh). */
  stoppedWithCheckpoint: (describe: string): string =>
    `the program stopped with a checkpoint (${describe}); run the same command again to resume`,
  /** A crash after the last allowed restart. */
  budgetUsedUp: (describe: string, maxRestarts: number): string =>
    `the program failed (${describe}) and the restart budget is used up (${maxRestarts} restart${maxRestarts === 1 ? '' : 's'}, --max-restarts)`,
  /** Every usable checkpoint is marked failing. */
  everyCheckpointFailing: (seqs: readonly number[]): string =>
    `every checkpoint makes the program fail right after starting (${seqs.map((s) => `#${s}`).join(', ')}); see \`ckpt why\`. Fix the program or move the store away to start fresh.`,
  /** Another copy of the job took the store over. */
  fenced: (detail: string): string => `stopped: another copy of this job owns the store (${detail})`,
  /** A deliberate stop; `note` is the hooks' word after it, if any. */
  interrupted: (reason: StopReason, describe: string, note: string | undefined): string =>
    `stopped (${describeStop(reason)}, ${describe})${note === undefined ? '; run the same command again to resume' : `; ${note}`}`,
};
