import type { Command, Option } from 'commander';
import { APP_NAMES } from '../apps/names.js';
import type { RunExit, RunFlags } from './commands/run.js';
import type { CommandContext } from './context.js';
import { EXIT_CANNOT_START, EXIT_RESUMABLE } from './exit-codes.js';
import { RUN_SETTINGS, settingFlag } from './run-settings.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Adds `ckpt run` to `program`: one flag per row of {@link RUN_SETTINGS} (help text with its
 * default), then the flags that are not settings. The action stores its exit in `result`.
 */
export function addRunCommand(
  program: Command,
  ctx: (cmd: Command) => CommandContext,
  result: RunExit,
  common: { store: () => Option; json: () => Option },
): void {
  const run = program
    .command('run')
    .addOption(common.store())
    .description(
      'run a program under supervision: checkpoint it, restart it after a crash, stop it gracefully',
    )
    .usage('[options] -- <command> [args...]')
    .argument('[command...]', 'the program and its arguments (after --)');
  for (const s of RUN_SETTINGS) {
    const help = `${s.help} (default: ${(s.show as (v: unknown) => string)(s.initial)})`;
    if (s.repeatable) run.option(`${settingFlag(s.key)} ${s.arg}`, help, collect);
    else run.option(`${settingFlag(s.key)} ${s.arg}`, help);
  }
  run
    .option('--config <file>', 'config file (default: ckpt.toml or ckpt.yaml in the working directory)')
    .option('--print-config', 'print the resolved settings and where each came from, then exit')
    .option('--app <name>', `drive a known app: ${APP_NAMES.join(', ')} (docs/apps.md)`)
    .option('--no-slurm', 'ignore the SLURM environment (no deadline, no requeue)')
    .addOption(common.json())
    .passThroughOptions()
    .addHelpText(
      'after',
      `
Every setting also comes from a config file key (max-restarts) or a CKPT_* variable
(CKPT_MAX_RESTARTS); a flag wins over the environment, which wins over the file (docs/cli.md).
The program sees CKPT_STORE, CKPT_RESTORE, CKPT_STEP, CKPT_SIGNAL, CKPT_DEADLINE and CKPT_RESTARTS
(docs/protocol.md). Exit: 0 when the program finished (or, under SLURM, the job was requeued),
${EXIT_RESUMABLE} when stopped on request (resumable), 1 when a newer copy of the job took the store over,
${EXIT_CANNOT_START} when it cannot start, else the program's own exit status.`,
    )
    .action(async (command: string[], _opts: unknown, cmd: Command) => {
      const exit = await (await import('./commands/run.js')).runRun(ctx(cmd), command, cmd.opts<RunFlags>());
      result.code = exit.code;
      if (exit.signal) result.signal = exit.signal;
    });
}
