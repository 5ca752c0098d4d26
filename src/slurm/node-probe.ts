import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How long one probe of the job's nodes may take: an unreachable node makes srun wait this long. */
export const NODE_PROBE_TIMEOUT_MS = 30_000;

/** The number of nodes of the job this process runs in (1 outside a multi-node job). */
export function jobNodeCount(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.SLURM_JOB_NUM_NODES ?? env.SLURM_NNODES ?? 1);
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}

/**
 * Whether every node of this multi-node job answers: one step of one task per node (`srun
 * --overlap`, `true`), which SLURM launches through each node's slurmd. A crash of the program
 * leaves them answering; a lost node (its slurmd gone, the node down or unreachable) makes the
 * step fail or time out. Returns why not, in SLURM's words, or undefined when all answer (or the
 * job has one node: its loss takes ckpt with it).
 */
export async function unreachableNodes(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const nodes = jobNodeCount(env);
  if (nodes <= 1) return undefined;
  const n = String(nodes);
  try {
    await run(
      'srun',
      [
        '--overlap',
        '--quiet',
        '--mpi=none',
        '-N',
        n,
        '-n',
        n,
        '--ntasks-per-node=1',
        '--kill-on-bad-exit=1',
        'true',
      ],
      { timeout: NODE_PROBE_TIMEOUT_MS, env },
    );
    return undefined;
  } catch (error) {
    const stderr = ((error as { stderr?: string }).stderr ?? '').trim();
    // An srun that cannot run the probe at all (an old SLURM without --overlap) says nothing of the nodes.
    if (
      /unrecognized option|invalid option|unknown option|ENOENT/i.test(
        `${stderr} ${(error as Error).message}`,
      )
    )
      return undefined;
    const line = stderr.split('\n').find((l) => /error/i.test(l)) ?? stderr.split('\n')[0] ?? '';
    const why = (error as { killed?: boolean }).killed
      ? `no answer within ${NODE_PROBE_TIMEOUT_MS / 1000} s`
      : line.replace(/^srun: (error: )?/, '') || (error as Error).message;
    return `a node of the job (${env.SLURM_JOB_NODELIST ?? `${nodes} nodes`}) does not answer: ${why}`;
  }
}
