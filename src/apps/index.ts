import { UsageError } from '../errors.js';
import type { AppBehavior } from '../supervisor/index.js';
import type { AppContext } from './app-options.js';
import type { AppSpec } from './app-spec.js';
import { gromacs } from './gromacs.js';
import { lammps } from './lammps.js';
import { APP_NAMES } from './names.js';
import { nwchem } from './nwchem.js';
import { openfoam } from './openfoam.js';
import { pytorch } from './pytorch.js';
import { qe } from './qe.js';
import { tf } from './tf.js';

export type { AppContext } from './app-options.js';
export type { AppSpec, DoctorFinding } from './app-spec.js';
export { runDoctorChecks } from './doctor.js';
export { gromacsFiles } from './gromacs.js';
export { LAMMPS_STOP_FILE, lammpsRestartGlobs } from './lammps.js';
export { APP_NAMES } from './names.js';
export { readNwchemInput, restartInput } from './nwchem.js';
export { controlDictEntry, timeDirectories } from './openfoam.js';
export { namelistValue, qeRestartGlobs, readQeInput, withRestartMode } from './qe.js';
export { pointedCheckpoint, pointedComplete, selectPointed } from './tf.js';

/**
 * Every app ckpt drives, each defined in its own file (behaviour, install check and doctor
 * checks). Adding an app is one file and one entry here (docs/apps.md, "Writing an adapter").
 */
export const APPS: readonly AppSpec[] = [gromacs, lammps, nwchem, openfoam, pytorch, qe, tf];

if (APP_NAMES.join() !== [...APPS.map((app) => app.name), 'generic'].join()) {
  throw new Error(
    `src/apps/names.ts lists ${APP_NAMES.join(', ')}, but the registered apps are ${APPS.map((a) => a.name).join(', ')}`,
  );
}

/** The app called `name`; throws {@link UsageError} for an unknown name (`generic` has no spec). */
export function appSpec(name: string): AppSpec {
  const spec = APPS.find((app) => app.name === name);
  if (!spec)
    throw new UsageError(`Unknown app \`${name}\`.`, { hint: `Use one of: ${APP_NAMES.join(', ')}.` });
  return spec;
}

/** The adapter for `name`, or undefined for `generic`. Throws {@link UsageError} for an unknown name. */
export function createApp(name: string, ctx: AppContext, packageRoot: string): AppBehavior | undefined {
  return name === 'generic' ? undefined : appSpec(name).create(ctx, packageRoot);
}
