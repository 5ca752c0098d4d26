import { type HolderProbe, parseSlurmEnv, type SlurmEnv } from '../store/index.js';
import { showJob } from './job.js';

/** Job states in which a job's processes may still run (and write). */
const LIVE_JOB_STATES = ['RUNNING', 'COMPLETING', 'SUSPENDED', 'CONFIGURING', 'STOPPED'];

/**
 * SLURM's answer to "does the lease's holder still run?" (the store asks it about every holder):
 * - `dead` when the holder is an older incarnation of this very job: a requeued job restarts
 *   under the same job id with a higher `SLURM_RESTART_COUNT`, and an old copy still holding the
 *   lease (a node failure leaves it running, even on this host) is stale by definition;
 * - `dead` when `scontrol show job` no longer knows the holder's job, shows it in a state in which
 *   nothing of it runs, or shows it restarted more often than the holder's incarnation on
 *   another node;
 * - `alive` when the job is running; undefined for a holder outside SLURM, or when `scontrol`
 *   fails (a slow or missing slurmctld proves nothing).
 * `me` is the job of the process asking (default: from this environment); an unknown restart
 * count of its own proves no staleness. `lookUp` reads a job's record (default: {@link showJob};
 * tests pass their own). The probe never throws.
 */
export function createSlurmHolderProbe(
  me: SlurmEnv | undefined = parseSlurmEnv(),
  lookUp: (jobId: string) => Promise<Record<string, string> | undefined> = showJob,
): HolderProbe {
  return async (record) => {
    const held = record.slurm;
    if (!held) return undefined;
    // A holder's record leaves the count out on the first run (SLURM leaves it unset): restart 0.
    const heldRestarts = held.restartCount ?? 0;
    if (me?.restartCount !== undefined && held.jobId === me.jobId && heldRestarts < me.restartCount) {
      return 'dead';
    }
    let fields: Record<string, string> | undefined;
    try {
      fields = await lookUp(held.jobId);
    } catch {
      return undefined;
    }
    if (!fields) return 'dead'; // SLURM no longer knows the job
    if (!LIVE_JOB_STATES.includes(fields.JobState ?? '')) return 'dead';
    // Running again after a requeue, on another node: the holder is the old incarnation.
    if (fields.BatchHost && fields.BatchHost !== record.host && Number(fields.Restarts ?? 0) > heldRestarts) {
      return 'dead';
    }
    return 'alive';
  };
}
