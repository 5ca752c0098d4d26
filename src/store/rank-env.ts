import { UsageError } from '../errors.js';
import { LEASE_TOKEN_ENV } from './lease.js';

/** Where a parallel launcher puts a process's rank, most specific first. */
export const RANK_VARIABLES = ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID'] as const;
/** Where it puts the number of ranks. */
export const RANKS_VARIABLES = ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'SLURM_NTASKS'] as const;

/** A rank and a rank count, as given (undefined: take it from the launcher's variables). */
export interface RankFlags {
  rank?: number | undefined;
  ranks?: number | undefined;
  session?: string | undefined;
}

function fromEnv(names: readonly string[], env: NodeJS.ProcessEnv): number | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && /^\d+$/.test(value)) return Number(value);
  }
  return undefined;
}

/**
 * This process's rank and the rank count: the flags', else the launcher's variables (OpenMPI's
 * `OMPI_COMM_WORLD_RANK`/`_SIZE` before `SLURM_PROCID`/`SLURM_NTASKS`, since `mpirun` inside a
 * batch job inherits the batch step's SLURM_PROCID 0). Throws {@link UsageError} naming the
 * variables when neither says.
 */
export function resolveRank(
  flags: RankFlags,
  env: NodeJS.ProcessEnv = process.env,
): { rank: number; ranks: number } {
  const rank = flags.rank ?? fromEnv(RANK_VARIABLES, env);
  const ranks = flags.ranks ?? fromEnv(RANKS_VARIABLES, env);
  if (rank === undefined || ranks === undefined) {
    const missing =
      rank === undefined
        ? `--rank (or ${RANK_VARIABLES.join(', ')})`
        : `--ranks (or ${RANKS_VARIABLES.join(', ')})`;
    throw new UsageError(
      `A multi-rank commit needs this process's rank and the rank count; ${missing} is not set.`,
      {
        hint: 'Run it under mpirun or srun, which set them, or give --rank R --ranks N.',
      },
    );
  }
  return { rank, ranks };
}

/**
 * The launch the ranks belong to, the same for all ranks of one launch and new for the next: the
 * parts of an earlier launch (a crash, a requeue) must never join this one's. Made of what
 * identifies it: `ckpt run`'s lease and restart count, the MPI job (PMIx namespace or OpenMPI
 * job id), the SLURM job step and its restart count. `--session` overrides. Throws
 * {@link UsageError} when nothing identifies the launch.
 */
export function resolveSession(flags: RankFlags, env: NodeJS.ProcessEnv = process.env): string {
  if (flags.session !== undefined && flags.session !== '') return flags.session;
  const parts: string[] = [];
  if (env[LEASE_TOKEN_ENV]) parts.push(`run:${env[LEASE_TOKEN_ENV]}.${env.CKPT_RESTARTS ?? 0}`);
  const mpi = env.PMIX_NAMESPACE ?? env.OMPI_MCA_ess_base_jobid;
  if (mpi) parts.push(`mpi:${mpi}`);
  if (env.SLURM_JOB_ID && env.SLURM_STEP_ID)
    parts.push(`slurm:${env.SLURM_JOB_ID}.${env.SLURM_STEP_ID}.${env.SLURM_RESTART_COUNT ?? 0}`);
  if (parts.length === 0) {
    throw new UsageError(
      'A multi-rank commit cannot tell which launch of the job its ranks belong to: it runs neither under `ckpt run`, mpirun nor srun.',
      { hint: 'Give --session ID, the same for every rank of this launch and a new one for each launch.' },
    );
  }
  return parts.join('/');
}
