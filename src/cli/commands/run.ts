import { basename } from 'node:path';
import { createApp } from '../../apps/index.js';
import { UsageError } from '../../errors.js';
import {
  createSlurmHolderProbe,
  createSlurmHooks,
  expandJobPattern,
  killWaitMs,
  slurmJobFromEnv,
} from '../../slurm/index.js';
import { Store } from '../../store/index.js';
import { type RunOutcome, Supervisor, shellStatus } from '../../supervisor/index.js';
import { type CommandContext, printJson } from '../context.js';
import { EXIT_CANNOT_START, EXIT_RESUMABLE } from '../exit-codes.js';
import { formatTable } from '../format.js';
import { packageRoot } from '../package-root.js';
import { describeRunSettings, loadConfigFile, resolveRunSettings } from '../run-config.js';
import type { RunSettings } from '../run-settings.js';

/** `ckpt run`'s flags as commander parsed them: one per setting (raw), and the others. */
export interface RunFlags extends Partial<Record<keyof RunSettings, unknown>> {
  config?: string;
  printConfig?: boolean;
  /** `--no-slurm` sets this false: ignore the SLURM environment. */
  slurm?: boolean;
  app?: string;
}

/** What `ckpt run` asks the CLI boundary to do: exit with a code, or die of the program's signal. */
export interface RunExit {
  code: number;
  signal?: NodeJS.Signals;
}

/** `ckpt run [options] -- CMD ARGS...` */
export async function runRun(
  parentCtx: CommandContext,
  command: string[],
  flags: RunFlags,
): Promise<RunExit> {
  // `--store runs/%a` gives every task of a job array its own store (`ckpt sbatch --array`).
  const ctx = { ...parentCtx, storeDir: expandJobPattern(parentCtx.storeDir) };
  const cwd = process.cwd();
  const { config, printConfig, slurm, app: appName, ...settingFlags } = flags;
  const resolved = resolveRunSettings(settingFlags, process.env, await loadConfigFile(cwd, config));
  const { maxRequeues, warningSignal, ...options } = resolved.settings;
  if (printConfig) {
    const rows = describeRunSettings(resolved);
    if (ctx.json)
      printJson(ctx, { store: ctx.storeDir, configFile: resolved.configFile ?? null, settings: rows });
    else {
      ctx.out(`store: ${ctx.storeDir}`);
      ctx.out(`config file: ${resolved.configFile ?? 'none'}`);
      ctx.out(
        formatTable(
          ['SETTING', 'VALUE', 'FROM'],
          rows.map((r) => [r.setting, r.value, r.from]),
        ),
      );
    }
    return { code: 0 };
  }
  if (command.length === 0) {
    throw new UsageError('`ckpt run` needs a command to run after `--`.', {
      hint: 'Example: ckpt run --every 10m --capture "out/*.chk" -- python3 sim.py',
    });
  }
  const app =
    appName === undefined
      ? undefined
      : createApp(appName, { command, cwd, everyMs: options.every }, packageRoot());
  if (app && options.capture.length > 0) {
    throw new UsageError(
      `\`--capture\` and \`--app ${appName}\` do not go together: the app knows its checkpoint files.`,
    );
  }
  const store = await Store.open(ctx.storeDir, { create: true });
  const job = slurm === false ? undefined : slurmJobFromEnv();
  // Outside a job the lease's holder may still be one (ckpt run on a login node): ask SLURM too.
  const hooks = job
    ? createSlurmHooks({
        job,
        store,
        maxRequeues,
        warningSignal,
        underSrun: command.some((word) => basename(word) === 'srun'),
        killWaitMs: await killWaitMs(),
        log: ctx.err,
      })
    : slurm === false
      ? undefined
      : { holderProbe: createSlurmHolderProbe(undefined) };
  if (job) {
    const restart =
      job.restartCount ?? `unknown (SLURM_RESTART_COUNT=${process.env.SLURM_RESTART_COUNT} is not a count)`;
    ctx.err(`ckpt: SLURM job ${job.requeueTarget}, restart ${restart}`);
  }
  const supervisor = new Supervisor({
    store,
    options,
    command,
    cwd,
    log: ctx.err,
    ...(hooks ? { hooks } : {}),
    ...(app ? { app } : {}),
  });
  const outcome = await supervisor.run();
  ctx.err(`ckpt: ${outcome.message}`);
  const exit = exitFor(outcome);
  if (ctx.json) {
    // One line, last on stdout: the program's own output shares that stream.
    const newest = (await store.candidates()).usable[0];
    const line = JSON.stringify({
      outcome: outcome.kind,
      message: outcome.message,
      exitCode: exit.code,
      signal: exit.signal ?? null,
      program: {
        code: outcome.exit.code,
        signal: outcome.exit.signal,
        ...(outcome.exit.startError ? { startError: outcome.exit.startError } : {}),
      },
      restarts: outcome.restarts,
      store: store.root,
      lastCheckpoint: newest ? { seq: newest.seq, step: newest.step, time: newest.time } : null,
    });
    ctx.out(line);
  }
  return exit;
}

/** The exit of `ckpt run` for how the run ended (docs/cli.md). */
function exitFor(outcome: RunOutcome): { code: number; signal?: NodeJS.Signals } {
  switch (outcome.kind) {
    case 'finished':
    case 'requeued':
      return { code: 0 };
    case 'interrupted':
      return { code: EXIT_RESUMABLE };
    case 'fenced':
      return { code: 1 };
    case 'cannot-start':
      return { code: EXIT_CANNOT_START };
    case 'failed':
      return outcome.exit.signal
        ? { code: shellStatus(outcome.exit), signal: outcome.exit.signal }
        : { code: shellStatus(outcome.exit) };
  }
}
