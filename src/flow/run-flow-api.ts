/** What `runFlow` (run-flow.ts) takes, reports as it goes, and returns; shared with the CLI. */

/** How many tasks run at once locally when `--jobs` is not given. */
export const DEFAULT_JOBS = 1;
/** How often a head asks SLURM about its jobs (one squeue for all) when `--poll` is not given. */
export const DEFAULT_SLURM_QUERY_MS = 10_000;
/** How often a running head marks its lease alive. */
export const LEASE_TOUCH_MS = 10_000;

/** What a run reports as it goes (the CLI prints it). */
export type FlowEvent =
  | { type: 'reaped'; tasks: string[] }
  | { type: 'cached'; task: string }
  | { type: 'start'; task: string; attempt: number; log: string }
  | { type: 'submitted'; task: string; attempt: number; job: string; log: string }
  | { type: 'attached'; task: string; attempt: number; job: string }
  | { type: 'resubmitted'; task: string; attempt: number; why: string }
  | { type: 'warning'; message: string }
  | { type: 'done'; task: string; attempt: number; ms: number; job?: string }
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
  /**
   * Aborting stops the run: no new task starts, local ones are stopped, SLURM jobs go on (the
   * next head re-attaches to them), nothing is lost.
   */
  signal?: AbortSignal;
  /** How often SLURM is asked about the flow's jobs (default {@link DEFAULT_SLURM_QUERY_MS}). */
  slurmQueryMs?: number;
}

/** What a head's run did: task ids that ran, were cached, failed or were blocked; `run` names it. */
export interface RunFlowResult {
  run: string;
  ran: string[];
  cached: string[];
  failed: string[];
  blocked: string[];
  interrupted: boolean;
  /** SLURM jobs of this run's tasks still queued or running when it stopped (an interrupted run). */
  slurmJobs: string[];
}
