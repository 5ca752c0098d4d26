/** What `runFlow` (run-flow.ts) takes, reports as it goes, and returns; shared with the CLI. */

/** How many tasks run at once locally when `--jobs` is not given. */
export const DEFAULT_JOBS = 1;
/** How often a running head marks its lease alive. */
export const LEASE_TOUCH_MS = 10_000;

/** What a run reports as it goes (the CLI prints it). */
export type FlowEvent =
  | { type: 'reaped'; tasks: string[] }
  | { type: 'cached'; task: string }
  | { type: 'start'; task: string; attempt: number; log: string }
  | { type: 'done'; task: string; attempt: number; ms: number }
  | { type: 'failed'; task: string; attempt: number; error: string; retry: boolean; log: string }
  | { type: 'blocked'; task: string; why: string };

/** How {@link runFlow} runs a workflow: parallelism, how to start ckpt, the environment, progress. */
export interface RunFlowOptions {
  /** Tasks at once (default {@link DEFAULT_JOBS}). */
  jobs: number;
  /** The argv that runs ckpt itself (`node bin/ckpt`): wrappers and `checkpoint:` steps use it. */
  ckpt: string[];
  /** Run `executor: slurm` steps locally too (their `slurm:` options are ignored). */
  allLocal: boolean;
  env: NodeJS.ProcessEnv;
  onEvent: (event: FlowEvent) => void;
  /** Aborting stops the run: no new task starts, running ones are stopped, nothing is lost. */
  signal?: AbortSignal;
}

/** What a head's run did: task ids that ran, were cached, failed or were blocked; `run` names it. */
export interface RunFlowResult {
  run: string;
  ran: string[];
  cached: string[];
  failed: string[];
  blocked: string[];
  interrupted: boolean;
}
