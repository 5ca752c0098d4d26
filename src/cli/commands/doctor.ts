import { APP_NAMES, type DoctorFinding, runDoctorChecks } from '../../apps/index.js';
import { UsageError } from '../../errors.js';
import { type CommandContext, printJson } from '../context.js';

/** `ckpt doctor [--app NAME] [-- CMD]`: exit 1 when something must be fixed, else 0. */
export async function runDoctor(
  ctx: CommandContext,
  command: string[],
  flags: { app?: string },
): Promise<number> {
  const apps = flags.app ? [flags.app] : APP_NAMES.filter((a) => a !== 'generic');
  for (const app of apps) {
    if (!(APP_NAMES as readonly string[]).includes(app)) {
      throw new UsageError(`Unknown app \`${app}\`.`, { hint: `Use one of: ${APP_NAMES.join(', ')}.` });
    }
  }
  if (command.length > 0 && !flags.app) {
    throw new UsageError('`ckpt doctor -- CMD` needs `--app NAME` to know how to read the command.');
  }
  const findings: DoctorFinding[] = [];
  for (const app of apps) findings.push(...(await runDoctorChecks(app, command, process.cwd())));
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (ctx.json) printJson(ctx, { findings, errors });
  else {
    for (const f of findings) {
      const mark = f.severity === 'ok' ? 'ok  ' : f.severity === 'warning' ? 'WARN' : 'FAIL';
      ctx.out(`${mark} ${f.message}`);
      if (f.fix) ctx.out(`     fix: ${f.fix}`);
    }
  }
  return errors > 0 ? 1 : 0;
}
