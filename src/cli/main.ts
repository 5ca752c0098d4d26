import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { APP_NAMES } from '../apps/names.js';
import { CkptError, UsageError } from '../errors.js';
import type { Store } from '../store/index.js';
import { addFlowCommand } from './commands/flow.js';
import type { RunExit } from './commands/run.js';
import { portOption } from './commands/ui.js';
import { type CommandContext, resolveStoreDir } from './context.js';
import { EXIT_FAILURE, EXIT_USAGE, exitCodeFor } from './exit-codes.js';
import { addRunCommand } from './run-command.js';
import { printable } from './terminal-text.js';

/** ckpt's version, as `ckpt --version` prints it. */
export const VERSION = '0.1.0';

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(`Expected \`${flag}\` to be a positive integer, got \`${value}\`.`);
    }
    return n;
  };
}

function nonNegativeInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`Expected \`${flag}\` to be a non-negative integer, got \`${value}\`.`);
    }
    return n;
  };
}

/** `ckpt commit --rank`: a rank, or `auto` (from the launcher's variables, like an absent `--rank`). */
function rankOrAuto(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : nonNegativeInt('--rank')(value);
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`Expected \`--step\` to be a non-negative number, got \`${value}\`.`);
  }
  return n;
}

function keyValue(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq < 1) throw new InvalidArgumentError(`Expected \`--meta\` as key=value, got \`${value}\`.`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Builds the command tree; each action stores its exit code in `result`. */
function buildProgram(io: Io, result: RunExit): Command {
  const program = new Command('ckpt')
    .description('Verified checkpoints and automatic resume for long-running jobs.')
    .version(VERSION)
    .option('--store <dir>', 'store directory (default: $CKPT_STORE, else ./.ckpt)')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 verify found damage.\nDocs: docs/cli.md, docs/format.md',
  );

  const opened: Store[] = [];
  const ctx = (cmd: Command): CommandContext => {
    const opts = cmd.optsWithGlobals<{ store?: string; json?: boolean }>();
    return {
      storeDir: resolveStoreDir(opts.store),
      storeNamed: opts.store !== undefined || process.env.CKPT_STORE !== undefined,
      json: opts.json === true,
      out: io.out,
      err: io.err,
      opened,
    };
  };
  const action =
    <A extends unknown[]>(fn: (cmd: Command, ...args: A) => Promise<number>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args.at(-1) as Command;
      try {
        result.code = await fn(cmd, ...(args.slice(0, -2) as A));
      } finally {
        // Things that went wrong without failing the command (a journal line not written…).
        for (const store of opened)
          for (const w of store.takeWarnings()) io.err(`ckpt: warning: ${w.message}`);
      }
    };
  const json = (): Option => new Option('--json', 'machine-readable output');
  const storeOption = (): Option =>
    new Option('--store <dir>', 'store directory (default: $CKPT_STORE, else ./.ckpt)');

  program
    .command('ls')
    .addOption(storeOption())
    .description('list the checkpoints in the store, oldest first')
    .option('--deep', 're-hash every chunk for the status column instead of checking sizes only', false)
    .addOption(json())
    .action(
      action(async (cmd) =>
        (await import('./commands/ls.js')).runLs(ctx(cmd), cmd.opts<{ deep: boolean }>()),
      ),
    );
  program
    .command('show')
    .addOption(storeOption())
    .description('show one checkpoint: writer, sizes, entries')
    .argument('<id>', 'a checkpoint id (#12 or 12), `latest`, or `latest~N`')
    .addOption(json())
    .action(action(async (cmd, id: string) => (await import('./commands/show.js')).runShow(ctx(cmd), id)));
  program
    .command('inspect')
    .addOption(storeOption())
    .description('what a checkpoint holds: a value tree with array statistics, or files with their heads')
    .argument('<id>', 'a checkpoint id (#12 or 12), `latest`, or `latest~N`')
    .argument('[path]', 'only this part: `field`, `model.weights[3]`, or a file or directory')
    .addOption(json())
    .action(
      action(async (cmd, id: string, path?: string) =>
        (await import('./commands/inspect.js')).runInspect(ctx(cmd), id, path),
      ),
    );
  program
    .command('report')
    .addOption(storeOption())
    .description('write one self-contained HTML report of a store, or of a directory of stores')
    .option('--html <file>', 'where to write the report')
    .action(
      action(async (cmd) =>
        (await import('./commands/report.js')).runReport(ctx(cmd), cmd.opts<{ html?: string }>()),
      ),
    );
  program
    .command('ui')
    .addOption(storeOption())
    .description('a live, read-only dashboard of a store or a directory of stores, on 127.0.0.1')
    .option('--port <n>', 'the TCP port (default: a free one)', portOption)
    .option('--socket <path>', 'serve on a Unix socket instead (for ssh -L from your computer)')
    .action(
      action(async (cmd) =>
        (await import('./commands/ui.js')).runUi(ctx(cmd), cmd.opts<{ port?: number; socket?: string }>()),
      ),
    );
  program
    .command('verify')
    .addOption(storeOption())
    .description('check every checkpoint; exit 3 if anything is damaged')
    .option('--deep', 're-hash every chunk instead of checking sizes only', false)
    .addOption(json())
    .action(
      action(async (cmd) =>
        (await import('./commands/verify.js')).runVerify(ctx(cmd), {
          deep: cmd.opts<{ deep: boolean }>().deep,
        }),
      ),
    );
  program
    .command('prune')
    .addOption(storeOption())
    .description(
      'delete old checkpoints by a retention policy (then `ckpt gc` is not needed for their chunks)',
    )
    .option('--keep <n>', 'keep the newest N valid checkpoints', positiveInt('--keep'))
    .option(
      '--keep-every <k>',
      'also keep checkpoints whose step is a multiple of K',
      positiveInt('--keep-every'),
    )
    .option('--dry-run', 'print the plan, change nothing', false)
    .addOption(json())
    .action(
      action(async (cmd) => {
        const o = cmd.opts<{ keep?: number; keepEvery?: number; dryRun: boolean }>();
        if (o.keep === undefined && o.keepEvery === undefined) {
          throw new UsageError('`ckpt prune` needs `--keep N` and/or `--keep-every K`.', {
            hint: 'Example: ckpt prune --keep 3 --dry-run',
          });
        }
        return (await import('./commands/prune.js')).runPrune(ctx(cmd), o);
      }),
    );
  program
    .command('gc')
    .addOption(storeOption())
    .description('delete packs and chunk files no checkpoint references, and temp files of killed writers')
    .option('--dry-run', 'print what would be freed, change nothing', false)
    .option('--deep', 'also re-hash every referenced chunk; mark packs holding a damaged one', false)
    .addOption(json())
    .action(
      action(async (cmd) =>
        (await import('./commands/gc.js')).runGc(ctx(cmd), cmd.opts<{ dryRun: boolean; deep: boolean }>()),
      ),
    );
  program
    .command('restore')
    .addOption(storeOption())
    .description("write a checkpoint's files into a directory (verified)")
    .argument('<id>', 'a checkpoint id, `latest` (falls back past damaged ones) or `latest~N`')
    .option('--to <dir>', 'directory to write into')
    .option(
      '--rank <r>',
      "of a multi-rank checkpoint, only this rank's files (default: all ranks')",
      nonNegativeInt('--rank'),
    )
    .option(
      '--ranks <n>',
      "the rank count of this job, checked against the checkpoint's",
      positiveInt('--ranks'),
    )
    .addOption(json())
    .action(
      action(async (cmd, id: string) =>
        (await import('./commands/restore.js')).runRestore(
          ctx(cmd),
          id,
          cmd.opts<{ to?: string; rank?: number; ranks?: number }>(),
        ),
      ),
    );
  program
    .command('commit')
    .addOption(storeOption())
    .description('commit files as a new checkpoint (for programs in any language)')
    .argument('[paths...]', 'files and directories, relative to the working directory')
    .requiredOption('--step <n>', 'the step this state belongs to', nonNegativeNumber)
    .option('--meta <key=value>', 'record a fact with the checkpoint (repeatable)', keyValue, {})
    .option('--cwd <dir>', 'directory the paths are relative to (default: the working directory)')
    .option('--keep <n>', 'then keep only the newest N checkpoints', positiveInt('--keep'))
    .addOption(
      new Option('--compress <mode>', 'zstd where it pays, or never')
        .choices(['auto', 'off'])
        .default('auto'),
    )
    .option(
      '--rank <r>',
      "commit this rank's part of a multi-rank checkpoint; `auto`: from $OMPI_COMM_WORLD_RANK, $SLURM_PROCID…",
      rankOrAuto,
    )
    .option(
      '--ranks <n>',
      'how many ranks commit it (default: $OMPI_COMM_WORLD_SIZE, $SLURM_NTASKS…)',
      positiveInt('--ranks'),
    )
    .option('--session <id>', 'names this launch of the ranks (default: from ckpt run, mpirun or srun)')
    .option('--timeout <duration>', 'how long the ranks wait for each other (default 10m)')
    .addOption(json())
    .action(
      action(async (cmd, paths: string[]) => {
        const o = cmd.opts<{
          step: number;
          meta: Record<string, string>;
          cwd?: string;
          compress: 'auto' | 'off';
          keep?: number;
          rank?: number | 'auto';
          ranks?: number;
          session?: string;
          timeout?: string;
        }>();
        const rank = o.rank === 'auto' ? undefined : o.rank;
        return (await import('./commands/commit.js')).runCommit(ctx(cmd), paths, {
          step: o.step,
          meta: o.meta,
          compression: o.compress,
          ...(o.cwd ? { cwd: o.cwd } : {}),
          ...(o.keep !== undefined ? { keep: o.keep } : {}),
          ...(o.rank !== undefined ||
          o.ranks !== undefined ||
          o.session !== undefined ||
          o.timeout !== undefined
            ? { parallel: { rank, ranks: o.ranks, session: o.session, timeout: o.timeout } }
            : {}),
        });
      }),
    );
  program
    .command('diff')
    .addOption(storeOption())
    .description('what changed between two checkpoints')
    .argument('<a>', 'older checkpoint id')
    .argument('<b>', 'newer checkpoint id')
    .option(
      '--values',
      'compare the values of two library checkpoints: per array, changed elements and largest change',
      false,
    )
    .addOption(json())
    .action(
      action(async (cmd, a: string, b: string) =>
        (await import('./commands/diff.js')).runDiff(ctx(cmd), a, b, cmd.opts<{ values: boolean }>()),
      ),
    );
  program
    .command('why')
    .addOption(storeOption())
    .description('which checkpoint the next start resumes from, and why newer ones are skipped')
    .addOption(json())
    .action(action(async (cmd) => (await import('./commands/why.js')).runWhy(ctx(cmd))));
  addRunCommand(program, ctx, result, { store: storeOption, json });
  addFlowCommand(program, action, ctx, json);
  program
    .command('sbatch')
    .description('submit a command to SLURM so that it survives time limits and preemption by requeue')
    .usage('[sbatch options] [ckpt run options] [--dry-run] -- <command> [args...]')
    .argument('[args...]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (args: string[], _opts: unknown, cmd: Command) => {
      result.code = await (await import('./commands/sbatch.js')).runSbatch(
        ctx(cmd),
        cmd.args.length ? cmd.args : args,
      );
    });
  program
    .command('doctor')
    .description('check that an app is installed, and flag settings that break exact restarts')
    .usage('[--app NAME] [-- <command> [args...]]')
    .argument('[command...]', 'the command you would run under ckpt (optional)')
    .option('--app <name>', `${APP_NAMES.filter((name) => name !== 'generic').join(', ')} (default: all)`)
    .addOption(json())
    .passThroughOptions()
    .action(async (command: string[], _opts: unknown, cmd: Command) => {
      const { runDoctor } = await import('./commands/doctor.js');
      result.code = await runDoctor(ctx(cmd), command, cmd.opts<{ app?: string }>());
    });
  program
    .command('status')
    .addOption(storeOption())
    .description('the job: state, segments, restarts, last checkpoint, work lost')
    .addOption(json())
    .action(action(async (cmd) => (await import('./commands/status.js')).runStatus(ctx(cmd))));
  program
    .command('unlock')
    .addOption(storeOption())
    .description(
      'remove the writer lease of a process that is gone (ckpt takes over dead local holders by itself)',
    )
    .option('--force', 'remove it even if the holder still runs', false)
    .addOption(json())
    .action(
      action(async (cmd) =>
        (await import('./commands/unlock.js')).runUnlock(ctx(cmd), cmd.opts<{ force: boolean }>()),
      ),
    );
  return program;
}

/**
 * Runs the CLI on `argv` (without node and script) and returns the exit code. The single error
 * boundary: CkptErrors print their message and hint; anything else is a bug and says so.
 */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  return (await runCli(argv, io)).code;
}

/** Like {@link main}, but also says when ckpt should die of its program's signal (`ckpt run`). */
export async function runCli(argv: readonly string[], io: Io = defaultIo): Promise<RunExit> {
  const result: RunExit = { code: 0 };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return result;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0 through here; parse errors were printed by commander.
      return { code: error.exitCode === 0 ? 0 : EXIT_USAGE };
    }
    if (error instanceof CkptError) {
      io.err(`ckpt: ${error.message}`);
      if (error.hint) io.err(`  ${error.hint}`);
      return { code: exitCodeFor(error) };
    }
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    io.err(`ckpt: internal error — please report it with this output:\n${detail}`);
    return { code: EXIT_FAILURE };
  }
}

/** Every line ckpt prints passes through {@link printable}: a store's bytes never drive the terminal. */
const defaultIo: Io = {
  out: (text) => process.stdout.write(`${printable(text)}\n`),
  err: (text) => process.stderr.write(`${printable(text)}\n`),
};
