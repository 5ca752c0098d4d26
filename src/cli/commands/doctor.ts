import { APPS, appSpec, type DoctorFinding, runDoctorChecks } from '../../apps/index.js';
import { UsageError } from '../../errors.js';
import { type CommandContext, printJson } from '../context.js';

/** `ckpt doctor [--app NAME] [-- CMD]`: exit 1 when something must be fixed, else 0. */
export async function runDoctor(
  ctx: CommandContext,
  command: string[],
  flags: { app?: string },
): Promise<number> {
  // `generic` is ckpt itself: nothing to check.
  const apps = flags.app === 'generic' ? [] : flags.app ? [appSpec(flags.app)] : APPS;
  if (command.length > 0 && !flags.app) {
    throw new UsageError('`ckpt doctor -- CMD` needs `--app NAME` to know how to read the command.');
  }
  const findings: DoctorFinding[] = [];
  for (const spec of apps) findings.push(...(await runDoctorChecks(spec, command, process.cwd())));
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
