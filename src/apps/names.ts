/**
 * The names `--app` accepts, with no imports: the CLI's help and the workflow file check read
 * them without loading the adapters. `generic` is plain `ckpt run` (the `--capture` behaviour).
 * index.ts checks at load that these are exactly the registered apps' names.
 */
export const APP_NAMES: readonly string[] = [
  'gromacs',
  'lammps',
  'nwchem',
  'openfoam',
  'pytorch',
  'qe',
  'tf',
  'generic',
];
