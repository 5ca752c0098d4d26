import { basename } from 'node:path';
import { type Add, type AppSpec, appVersion, type DoctorFinding } from './app-spec.js';

/**
 * Checks that an app is installed (and its version), and, given the command ckpt would run,
 * flags settings that break exact restarts or graceful stops, each with its fix: the app's own
 * checks (its spec), then those of any MPI command.
 */
export async function runDoctorChecks(
  spec: AppSpec,
  command: readonly string[],
  cwd: string,
): Promise<DoctorFinding[]> {
  const app = spec.name;
  const { install } = spec;
  if (!install) return [];
  const findings: DoctorFinding[] = [];
  const program = install.command(command);
  const found = await appVersion(program, install.args, install.version, install.env);
  if (found) findings.push({ app, severity: 'ok', code: 'INSTALLED', message: `${app}: ${found}` });
  else {
    const better = await install.whenMissing?.(program);
    findings.push(
      better
        ? { app, ...better }
        : {
            app,
            severity: 'error',
            code: 'NOT_INSTALLED',
            message: `${app} was not found (${install.label ?? program}).`,
            fix: install.fix,
          },
    );
  }
  if (command.length === 0) return findings;
  const add: Add = (severity, code, message, fix) => {
    findings.push({ app, severity, code, message, fix });
  };
  await spec.doctor?.(command, cwd, add);
  checkMpiRoot(command, add);
  return findings;
}

/** mpirun as root without OpenMPI's allow-root variables fails at every start. */
function checkMpiRoot(command: readonly string[], add: Add): void {
  if (basename(command[0] ?? '') !== 'mpirun' || process.getuid?.() !== 0) return;
  if (process.env.OMPI_ALLOW_RUN_AS_ROOT && process.env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM) return;
  add(
    'error',
    'MPI_ROOT',
    'mpirun refuses to run as root unless OMPI_ALLOW_RUN_AS_ROOT and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM are set: every start would fail at once.',
    'Run as a normal user, or export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.',
  );
}
