/**
 * Tests that need a component the machine may lack (python3, gmx, SLURM, root…): outside CI they
 * are skipped with a message naming what to install; under CI a missing component fails them,
 * never skips them (a green CI must mean the tests ran).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

/** Something tests need: its name, whether it is here, and how to get it. */
export interface Need {
  name: string;
  present: boolean;
  /** What to do to have it, e.g. `apt-get install gromacs`. */
  install: string;
}

/** CI is set (and not to `false` or `0`): missing components fail instead of skipping. */
export const UNDER_CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

/** Whether `command` is on PATH. */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Whether `command ...args` runs and exits 0. */
export function runs(command: string, ...args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** The message that names what is missing and what to install. */
export function missingMessage(needs: readonly Need[]): string {
  return needs
    .filter((n) => !n.present)
    .map((n) => `${n.name} is missing: ${n.install}`)
    .join('; ');
}

/**
 * True when tests needing `needs` must be skipped: something is missing and CI is not set (a
 * warning then says what to install). Under CI it is false, so the tests run and fail. For
 * `it.skipIf(skipWithout(need))` beside tests that need nothing.
 */
export function skipWithout(...needs: Need[]): boolean {
  const missing = needs.filter((n) => !n.present);
  if (missing.length === 0 || UNDER_CI) return false;
  console.warn(
    `Skipping tests that need ${missing.map((n) => n.name).join(', ')}: ${missingMessage(missing)}.`,
  );
  return true;
}

/**
 * `describe(title, body)` when every need is present. Otherwise, outside CI, a warning and one
 * skipped test whose name says what to install; under CI, one test that fails saying the same.
 */
export function describeNeeds(title: string, needs: Need | readonly Need[], body: () => void): void {
  const all = Array.isArray(needs) ? (needs as readonly Need[]) : [needs as Need];
  const message = missingMessage(all);
  if (message === '') {
    describe(title, body);
    return;
  }
  describe(title, () => {
    if (UNDER_CI) {
      it(`needs ${all
        .filter((n) => !n.present)
        .map((n) => n.name)
        .join(', ')}`, () => {
        throw new Error(`${message} (CI is set, so this is a failure, not a skip).`);
      });
    } else {
      console.warn(`Skipping ${title}: ${message}.`);
      it.skip(message, () => {});
    }
  });
}

/** python3 on PATH. */
export const PYTHON3: Need = {
  name: 'python3',
  present: runs('python3', '--version'),
  install: 'install python3 (apt-get install python3)',
};

/** A command that a Debian package installs. */
function fromDebian(name: string, present: boolean, pkg: string): Need {
  return { name, present, install: `install the Debian package \`${pkg}\` (apt-get install ${pkg})` };
}

/** GROMACS' `gmx`. */
export const GROMACS = fromDebian('gmx', runs('gmx', '--version'), 'gromacs');
/** LAMMPS' `lmp`. */
export const LAMMPS = fromDebian('lmp', runs('lmp', '-h'), 'lammps');
/** OpenFOAM's icoFoam and blockMesh. */
export const OPENFOAM = fromDebian(
  'icoFoam/blockMesh',
  hasCommand('icoFoam') && hasCommand('blockMesh'),
  'openfoam',
);
/** Snakemake (Debian's 7.21), for the side-by-side tests of `ckpt flow`. */
export const SNAKEMAKE = fromDebian('snakemake', runs('snakemake', '--version'), 'snakemake');
/** A C compiler with POSIX threads, for test programs written in C. */
export const GCC = fromDebian('gcc', runs('gcc', '--version'), 'gcc libc6-dev');
/** Debian's Chromium, driven by playwright-core for the dashboard and report tests. */
export const CHROMIUM = fromDebian('chromium', existsSync('/usr/bin/chromium'), 'chromium');
/** Quantum ESPRESSO's pw.x, and the example pseudopotential of quantum-espresso-data. */
export const QE_PSEUDO = '/usr/share/doc/quantum-espresso/examples/EPW/sic/pp/Si.pz-vbc.UPF.gz';
export const QE = fromDebian(
  'pw.x + Si.pz-vbc.UPF.gz',
  hasCommand('pw.x') && existsSync(QE_PSEUDO),
  'quantum-espresso quantum-espresso-data',
);
/** NWChem (Debian's `nwchem`, OpenMPI build). */
export const NWCHEM = fromDebian('nwchem', hasCommand('nwchem'), 'nwchem');
/** Debian's python3 with h5py and numpy, for the Keras stand-in (test/fixtures/keras). */
export const H5PY = fromDebian(
  '/usr/bin/python3 with h5py',
  spawnSync('/usr/bin/python3', ['-c', 'import h5py, numpy']).status === 0,
  'python3-h5py python3-numpy',
);
/** OpenMPI's mpirun and mpicc with its headers, for the MPI example and tests. */
export const MPI = fromDebian(
  'mpirun/mpicc',
  hasCommand('mpirun') && hasMpiHeader(),
  'libopenmpi-dev openmpi-bin',
);

/** Whether mpicc finds mpi.h (the wrapper can be there without the headers). */
function hasMpiHeader(): boolean {
  const dirs = spawnSync('mpicc', ['--showme:incdirs'], { encoding: 'utf8' });
  return (
    dirs.status === 0 && dirs.stdout.split(/\s+/).some((dir) => dir !== '' && existsSync(`${dir}/mpi.h`))
  );
}
