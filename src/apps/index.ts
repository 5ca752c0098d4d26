import { UsageError } from '../errors.js';
import type { AppBehavior } from '../supervisor/index.js';
import type { AppContext } from './app-options.js';
import { gromacsApp } from './gromacs.js';
import { lammpsApp } from './lammps.js';
import { openfoamApp } from './openfoam.js';
import { pytorchApp } from './pytorch.js';
import { qeApp } from './qe.js';
import { tfApp } from './tf.js';

export type { AppContext } from './app-options.js';
export { type DoctorFinding, runDoctorChecks } from './doctor.js';
export { gromacsFiles } from './gromacs.js';
export { LAMMPS_STOP_FILE, lammpsRestartGlobs } from './lammps.js';
export { controlDictEntry, timeDirectories } from './openfoam.js';
export { namelistValue, qeRestartGlobs, readQeInput, withRestartMode } from './qe.js';
export { pointedCheckpoint, pointedComplete, selectPointed } from './tf.js';

/** The apps `--app` accepts. `generic` is plain `ckpt run` (the `--capture` behaviour). */
export const APP_NAMES = ['gromacs', 'lammps', 'openfoam', 'pytorch', 'qe', 'tf', 'generic'] as const;
/** One of {@link APP_NAMES}. */
export type AppName = (typeof APP_NAMES)[number];

/** The adapter for `name`, or undefined for `generic`. Throws {@link UsageError} for an unknown name. */
export function createApp(name: string, ctx: AppContext, packageRoot: string): AppBehavior | undefined {
  switch (name) {
    case 'gromacs':
      return gromacsApp(ctx);
    case 'lammps':
      return lammpsApp(ctx);
    case 'openfoam':
      return openfoamApp(ctx);
    case 'pytorch':
      return pytorchApp(ctx, packageRoot);
    case 'qe':
      return qeApp(ctx);
    case 'tf':
      return tfApp(ctx, packageRoot);
    case 'generic':
      return undefined;
    default:
      throw new UsageError(`Unknown app \`${name}\`.`, { hint: `Use one of: ${APP_NAMES.join(', ')}.` });
  }
}
