import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { argValue } from './app-options.js';
import { controlDictEntry, DEBIAN_OPENFOAM_DIR } from './openfoam.js';
import { namelistValue, readQeInput } from './qe.js';

/** One thing `ckpt doctor` found: data, not printing (the CLI prints). */
export interface DoctorFinding {
  app: string;
  severity: 'ok' | 'warning' | 'error';
  code: string;
  message: string;
  fix?: string;
}

async function version(
  cmd: string,
  args: string[],
  pattern: RegExp,
  env?: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  // In a directory of its own: pw.x leaves `input_tmp.in` and a `CRASH` file where it runs.
  const cwd = await mkdtemp(join(tmpdir(), 'ckpt-doctor-'));
  const out = await new Promise<string>((resolveOut) => {
    const child = execFile(
      cmd,
      args,
      { cwd, timeout: 20_000, env: { ...process.env, ...env } },
      (_error, stdout, stderr) => resolveOut(`${stdout}\n${stderr}`),
    );
    // An empty standard input: pw.x reads its input from there and would wait for it.
    child.stdin?.end();
  }).finally(() => rm(cwd, { recursive: true, force: true }));
  return pattern.exec(out)?.[1]?.trim();
}

const INSTALL: Record<string, [string, string[], RegExp, string]> = {
  gromacs: ['gmx', ['--version'], /GROMACS version:\s*(\S+)/, 'apt-get install gromacs'],
  lammps: ['lmp', ['-h'], /Simulator - ([^\n]+)/, 'apt-get install lammps'],
  openfoam: ['icoFoam', ['-help'], /Using:\s*(OpenFOAM[^\n-]*-[^\n]*)/, 'apt-get install openfoam'],
  qe: ['pw.x', ['-h'], /Program PWSCF (v\.\S+)/, 'apt-get install quantum-espresso'],
  pytorch: [
    'python3',
    ['-c', 'import torch; print("torch", torch.__version__)'],
    /(torch \S+)/,
    'apt-get install python3-torch',
  ],
};

/**
 * Checks that an app is installed (and its version), and, given the command ckpt would run,
 * flags settings that break exact restarts or graceful stops, each with its fix.
 */
export async function runDoctorChecks(
  app: string,
  command: readonly string[],
  cwd: string,
): Promise<DoctorFinding[]> {
  const spec = INSTALL[app];
  if (!spec) return [];
  const findings: DoctorFinding[] = [];
  const [cmd, args, pattern, install] = spec;
  const python = app === 'pytorch' ? (command[0] ?? 'python3') : cmd;
  const found = await version(
    python,
    args,
    pattern,
    app === 'openfoam' ? { WM_PROJECT_DIR: DEBIAN_OPENFOAM_DIR } : {},
  );
  if (found) findings.push({ app, severity: 'ok', code: 'INSTALLED', message: `${app}: ${found}` });
  else if (
    app === 'pytorch' &&
    python !== '/usr/bin/python3' &&
    (await version('/usr/bin/python3', args, pattern))
  ) {
    findings.push({
      app,
      severity: 'error',
      code: 'TORCH_OTHER_PYTHON',
      message: `\`${python}\` cannot import torch, but /usr/bin/python3 (Debian's, with python3-torch) can.`,
      fix: 'Run the training script with /usr/bin/python3.',
    });
  } else {
    const message = `${app} was not found (${python}).`;
    findings.push({ app, severity: 'error', code: 'NOT_INSTALLED', message, fix: install });
  }
  if (command.length === 0) return findings;
  const add = (severity: DoctorFinding['severity'], code: string, message: string, fix: string): void => {
    findings.push({ app, severity, code, message, fix });
  };
  if (app === 'gromacs') {
    if (argValue(command, '-cpt') === '-1') {
      add(
        'error',
        'GMX_NO_CHECKPOINTS',
        '`-cpt -1` disables checkpoints: a stop or crash loses the whole run.',
        'Remove `-cpt -1`; ckpt sets -cpt from --every.',
      );
    }
    if (command.includes('-nsteps')) {
      add(
        'warning',
        'GMX_NSTEPS',
        '`-nsteps` on a restart means that many *more* steps: resumed runs overshoot.',
        'Put the total number of steps in the .tpr (nsteps in the .mdp) and drop -nsteps.',
      );
    }
  }
  if (app === 'gromacs') await checkGromacsCoupling(command, cwd, add);
  if (app === 'lammps') checkLammps(command, cwd, add);
  if (app === 'openfoam') checkOpenfoam(command, cwd, add);
  if (app === 'qe') checkQe(command, cwd, add);
  if (basename(command[0] ?? '') === 'mpirun' && process.getuid?.() === 0) {
    if (!process.env.OMPI_ALLOW_RUN_AS_ROOT || !process.env.OMPI_ALLOW_RUN_AS_ROOT_CONFIRM) {
      add(
        'error',
        'MPI_ROOT',
        'mpirun refuses to run as root unless OMPI_ALLOW_RUN_AS_ROOT and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM are set: every start would fail at once.',
        'Run as a normal user, or export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.',
      );
    }
  }
  return findings;
}

type Add = (severity: DoctorFinding['severity'], code: string, message: string, fix: string) => void;

function checkLammps(command: readonly string[], cwd: string, add: Add): void {
  const inputPath = argValue(command, '-in', '-i');
  if (!inputPath || !existsSync(join(cwd, inputPath))) {
    add(
      'error',
      'LMP_NO_INPUT',
      `LAMMPS input ${inputPath ? `\`${inputPath}\` not found` : 'not given (-in FILE)'}.`,
      'Run LAMMPS with `-in FILE`.',
    );
    return;
  }
  const input = readFileSync(join(cwd, inputPath), 'utf8').replace(/#.*/g, '');
  if (!/ckpt_stop/.test(input) || !/fix\s+\S+\s+\S+\s+halt/.test(input)) {
    add(
      'error',
      'LMP_NO_HALT',
      "The input has no `fix halt` on ckpt's stop file: LAMMPS has no SIGTERM handler, so ckpt cannot stop it with a checkpoint.",
      'Add `variable ckpt_stopping equal is_file(${ckpt_stop})` and `fix ckpt_halt all halt 10 v_ckpt_stopping == 1 error soft` (docs/apps.md).',
    );
  }
  if (!/ckpt_resume/.test(input) || !/read_restart\s+\$\{ckpt_restart\}/.test(input)) {
    add(
      'error',
      'LMP_NO_RESUME',
      'The input does not branch on `${ckpt_resume}` to `read_restart ${ckpt_restart}`: a restart would start over.',
      'Use the resume pattern in docs/apps.md.',
    );
  }
  // N may be a variable (`${n}`, v_n); ckpt captures only files named with `*` (the step).
  if (!/^\s*restart\s+(?!0\s)\S+\s+\S*\*/m.test(input)) {
    add(
      'warning',
      'LMP_NO_RESTART',
      'No periodic `restart N file.*` command (with the `*`, which LAMMPS replaces by the step: ckpt captures only such files): only a stop writes a checkpoint, a crash loses everything.',
      'Add `restart 1000 ckpt/run.*.restart`.',
    );
  }
  if (/^\s*run\s+\S+(?!.*upto)/m.test(input) && !/^\s*run\s+\S+.*\bupto\b/m.test(input)) {
    add(
      'warning',
      'LMP_NO_UPTO',
      '`run N` without `upto` runs N *more* steps after a restart.',
      'Use `run N upto`.',
    );
  }
  if (!/atom_modify\s+sort\s+0\s+0(\.0)?/.test(input)) {
    add(
      'warning',
      'LMP_SORT',
      'Atom sorting makes a restart differ bitwise unless it happens on a sort step.',
      'Add `atom_modify sort 0 0.0` for bitwise-identical restarts.',
    );
  }
}

function checkOpenfoam(command: readonly string[], cwd: string, add: Add): void {
  const caseDir = resolve(cwd, argValue(command, '-case') ?? '.');
  const path = join(caseDir, 'system', 'controlDict');
  if (!existsSync(path)) {
    add(
      'error',
      'FOAM_NO_CASE',
      `No controlDict at \`${path}\`.`,
      'Run ckpt in the case directory or pass -case DIR.',
    );
    return;
  }
  const control = readFileSync(path, 'utf8');
  if (controlDictEntry(control, 'startFrom') !== 'latestTime') {
    add(
      'error',
      'FOAM_START_FROM',
      `startFrom is \`${controlDictEntry(control, 'startFrom') ?? 'unset'}\`: a restart would not resume from the last written time.`,
      'Set `startFrom latestTime;` in system/controlDict.',
    );
  }
  const format = controlDictEntry(control, 'writeFormat') ?? 'ascii';
  const precision = Number(controlDictEntry(control, 'writePrecision') ?? 6);
  if (format === 'ascii' && precision < 17) {
    add(
      'warning',
      'FOAM_ASCII',
      `writeFormat ascii with writePrecision ${precision}: restarts differ from an uninterrupted run (~1e-${precision + 1}).`,
      'Set `writeFormat binary;` for exact restarts.',
    );
  }
}

function checkQe(command: readonly string[], cwd: string, add: Add): void {
  let input: ReturnType<typeof readQeInput>;
  try {
    input = readQeInput(command, cwd);
  } catch (error) {
    const { message, hint } = error as Error & { hint?: string };
    add('error', 'QE_INPUT', message, hint ?? 'Run `pw.x -in FILE`.');
    return;
  }
  const calculation = namelistValue(input.text, 'control', 'calculation') ?? 'scf';
  if (['scf', 'nscf', 'bands'].includes(calculation.toLowerCase())) {
    add(
      'warning',
      'QE_NO_PERIODIC',
      `calculation = '${calculation}' writes restart data only when pw.x stops or ends: a stop through ckpt (SIGTERM, a deadline) keeps the SCF loop's state, a crash or SIGKILL starts over.`,
      "Expected for a single SCF; relaxations and MD ('relax', 'vc-relax', 'md') write it after each ionic step.",
    );
  }
  if (/^\s*restart_mode\s*=\s*['"]restart['"]/im.test(input.text)) {
    add(
      'warning',
      'QE_RESTART_MODE',
      "The input already says restart_mode = 'restart': its first start resumes whatever is in outdir, not a checkpoint.",
      "Use restart_mode = 'from_scratch' (the default); ckpt sets 'restart' in a copy of the input when it resumes.",
    );
  }
}

/** Pressure coupling algorithms after which a resumed mdrun was measured not to be bitwise identical. */
const GMX_INEXACT_PCOUPL = ['C-rescale', 'Parrinello-Rahman', 'MTTK'];

/**
 * Reads the run's pressure coupling from its .tpr (`gmx dump -s`): with C-rescale or
 * Parrinello-Rahman a resumed run is a valid continuation, not a bitwise copy (docs/apps.md).
 */
async function checkGromacsCoupling(command: readonly string[], cwd: string, add: Add): Promise<void> {
  const deffnm = argValue(command, '-deffnm');
  const tpr = argValue(command, '-s') ?? (deffnm ? `${deffnm}.tpr` : 'topol.tpr');
  if (!existsSync(join(cwd, tpr))) return;
  const pcoupl = await new Promise<string | undefined>((resolveDump) => {
    execFile(
      'gmx',
      ['-quiet', 'dump', '-s', join(cwd, tpr)],
      { timeout: 20_000, maxBuffer: 256 << 20 },
      (_e, stdout) => resolveDump(/^\s*pcoupl\s*=\s*(\S+)/m.exec(stdout ?? '')?.[1]),
    );
  });
  if (pcoupl && GMX_INEXACT_PCOUPL.some((name) => name.toLowerCase() === pcoupl.toLowerCase())) {
    add(
      'warning',
      'GMX_NOT_BITWISE',
      `pcoupl = ${pcoupl} in ${tpr}: a resumed run is a valid continuation, but expect it to be statistically equivalent, not bitwise identical, to an uninterrupted run (measured with GROMACS 2022.5: 15 of 18 stop-and-resume runs with C-rescale or Parrinello-Rahman diverged, -reprod included; thermostats alone and Berendsen pressure coupling resumed identically).`,
      'Nothing to fix for production runs. Compare resumed runs by their averages, not bit for bit.',
    );
  }
}
