import { LEASE_TOKEN_ENV } from '../store/index.js';

/** What one segment's environment is built from. */
export interface SegmentEnvInput {
  /** The supervisor's own environment (`process.env`). */
  base: NodeJS.ProcessEnv;
  /** The app's extra variables, if any. */
  appEnv: Record<string, string> | undefined;
  /** The scheduler integration's extra variables (CKPT_DEADLINE…), if any. */
  hooksEnv: Record<string, string> | undefined;
  storeRoot: string;
  signal: NodeJS.Signals;
  restarts: number;
  leaseToken: string;
  /** The checkpoint being resumed from, if any. */
  restore: { dir: string; step: number; stepKind: 'capture-counter' | 'program' } | undefined;
}

/**
 * The program's environment for one start (docs/protocol.md). Pure. Protocol variables win over
 * the app's and the hooks'; restore variables inherited from an outer ckpt are removed unless
 * this start resumes.
 */
export function buildSegmentEnv(input: SegmentEnvInput): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...input.base,
    ...input.appEnv,
    ...input.hooksEnv,
    CKPT_STORE: input.storeRoot,
    CKPT_SIGNAL: input.signal,
    CKPT_RESTARTS: String(input.restarts),
    [LEASE_TOKEN_ENV]: input.leaseToken,
  };
  delete env.CKPT_RESTORE;
  delete env.CKPT_STEP;
  delete env.CKPT_STEP_KIND;
  if (input.restore) {
    env.CKPT_RESTORE = input.restore.dir;
    env.CKPT_STEP = String(input.restore.step);
    // A capture counter is not the program's step: say so (docs/protocol.md).
    env.CKPT_STEP_KIND = input.restore.stepKind;
  }
  return env;
}
