/** Where a step runs. Only `local` runs yet; `slurm` is accepted, planned and graphed. */
export type Executor = 'local' | 'slurm';
/** The executors a workflow file may name. */
export const EXECUTORS: readonly Executor[] = ['local', 'slurm'];

/** The default workflow file name, looked up in the working directory. */
export const DEFAULT_FLOW_FILE = 'ckpt-flow.yaml';
/** The default flow directory (records, logs, caches), relative to the workflow file. */
export const DEFAULT_FLOW_DIR = '.ckpt-flow';
/** Retries of a failed task when neither the step nor `defaults` says. */
export const DEFAULT_RETRIES = 0;

/** A `for_each` variable and its values, in file order (values rendered as text). */
export interface ForEachVar {
  name: string;
  values: string[];
}

/** `checkpoint:` of a step: it runs under `ckpt run` with these settings. */
export interface CheckpointSpec {
  /** `--every` (a duration as `ckpt run` takes it), if given. */
  every: string | undefined;
  /** `--capture` globs. */
  capture: string[];
  /** `--app`, if given. */
  app: string | undefined;
}

/** One step of a workflow, resolved: defaults applied, every field present. */
export interface FlowStep {
  name: string;
  run: string;
  needs: string[];
  /** Input files or globs (templates), relative to the workflow's directory. */
  inputs: string[];
  /** Output files (templates), relative to the workflow's directory. */
  outputs: string[];
  /** Names of the environment variables whose values enter the key. */
  env: string[];
  executor: Executor;
  /** sbatch options (long names without `--`); never part of the key. */
  slurm: Record<string, string>;
  retries: number;
  /** Fan-out: one task per combination (cartesian product, first variable outermost). */
  forEach: ForEachVar[];
  checkpoint: CheckpointSpec | undefined;
}

/** A parsed and validated workflow file. */
export interface Workflow {
  /** Absolute path of the workflow file. */
  file: string;
  /** Its directory: commands run here, and relative paths are relative to it. */
  dir: string;
  /** Absolute path of the flow directory (`store:`, default `.ckpt-flow` next to the file). */
  flowDir: string;
  /** Steps in file order. */
  steps: FlowStep[];
}
