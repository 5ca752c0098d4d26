import type { HolderProbe } from '../store/index.js';
import type { ProgramExit } from './outcome.js';

/** Why the supervisor stopped the program on purpose. */
export type StopReason =
  /** ckpt got SIGTERM/SIGINT/SIGHUP; `kind` says what the environment meant by it. */
  | { kind: 'signal'; signal: NodeJS.Signals; meaning: string }
  /** The job's deadline is near (a scheduler warning, or ckpt's own timer). */
  | { kind: 'deadline'; detail: string }
  /** Another writer took the store's lease over: this copy of the job is stale. */
  | { kind: 'fenced'; detail: string };

/** What happened after a deliberate stop (e.g. the job was requeued). */
export interface AfterStop {
  requeued: boolean;
  message: string;
}

/**
 * How a scheduler integration (the slurm layer) plugs into `ckpt run` without the supervisor
 * knowing about it. Every hook is optional.
 */
export interface SupervisorHooks {
  /** Asked about the lease's holder before refusing to start (see the store's `holderState`). */
  holderProbe?: HolderProbe;
  /** Extra environment for the program (CKPT_DEADLINE…), computed before each start. */
  env?(): Promise<Record<string, string>>;
  /** Signals to ckpt that mean "the deadline is near" (instead of being forwarded). */
  warningSignals?: readonly NodeJS.Signals[];
  /** Starts watching for a deadline while the program runs; returns a disposer. */
  watch?(requestStop: (reason: StopReason) => void): () => void;
  /** Says what a stop signal means here (time limit, preemption, user cancel…). */
  classifySignal?(signal: NodeJS.Signals): Promise<string>;
  /** Delivers a signal to program processes outside ckpt's process group (e.g. srun's tasks); true if it did. */
  deliver?(signal: NodeJS.Signals): boolean;
  /** How long a stop for `reason` may wait for the checkpoint (e.g. less than SLURM's KillWait). */
  graceMs?(reason: StopReason, configured: number): number;
  /** After the program stopped on purpose and its checkpoint is stored: requeue, or not. */
  afterStop?(reason: StopReason, exit: ProgramExit): Promise<AfterStop | undefined>;
  /**
   * After a crash: why it is the allocation's fault, not the program's (a node of a multi-node
   * job lost), or undefined. Such a crash is not counted, marks no checkpoint failing, and the
   * program is started again only once this says undefined (or the job is stopped meanwhile).
   */
  allocationTrouble?(): Promise<string | undefined>;
}

/** What a stop signal means when no hook says otherwise. */
export const DEFAULT_STOP_MEANING = 'stop requested';

/** {@link SupervisorHooks} with every hook present: what the supervisor's phases call. */
export type ResolvedHooks = Required<SupervisorHooks>;

/**
 * The hooks of a run without a scheduler integration: each does nothing, or what ckpt does on
 * its own (no extra environment, the configured grace, no requeue).
 */
export const NO_HOOKS: ResolvedHooks = {
  holderProbe: async () => undefined,
  env: async () => ({}),
  warningSignals: [],
  watch: () => () => {},
  classifySignal: async () => DEFAULT_STOP_MEANING,
  deliver: () => false,
  graceMs: (_reason, configured) => configured,
  afterStop: async () => undefined,
  allocationTrouble: async () => undefined,
};

/** Completes `hooks` with {@link NO_HOOKS}, once per run, so that no phase tests for a missing hook. */
export function resolveHooks(hooks: SupervisorHooks | undefined): ResolvedHooks {
  return { ...NO_HOOKS, ...hooks };
}
