/** Running OpenMPI's mpirun in tests: as root (CI), with ranks beyond the cores allowed. */
import { cleanEnv } from './cli.js';
import { CLI_BIN } from './repo.js';

/** The environment mpirun needs here, plus `CKPT_BIN`, the ckpt a program under test commits with. */
export function mpiEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cleanEnv({
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    OMPI_MCA_rmaps_base_oversubscribe: '1',
    CKPT_BIN: `${process.execPath} ${CLI_BIN}`,
    ...extra,
  });
}
