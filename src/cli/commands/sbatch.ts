import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_STORE_DIR } from '../../checkpointer/index.js';
import { UsageError } from '../../errors.js';
import {
  anchorCommand,
  arrayOption,
  buildBatchScript,
  chooseLeadSeconds,
  DEFAULT_TASK_DIR,
  differsPerTask,
  hasJobPattern,
  measuredCheckpointMs,
  parseSlurmTime,
  shellPathPattern,
  submitBatch,
} from '../../slurm/index.js';
import { DIR_MODE, readJournal, Store, writeFileAtomic } from '../../store/index.js';
import { parseDuration } from '../../supervisor/index.js';
import { type CommandContext, printJson, resolveStoreDir } from '../context.js';
import { packageRoot } from '../package-root.js';
import { loadConfigFile, resolveRunSettings } from '../run-config.js';
import { RUN_SETTINGS, type RunSettings, SBATCH_PASS_THROUGH, settingFlag } from '../run-settings.js';

/** `ckpt run` options that `ckpt sbatch` takes (with a value) and passes into the batch script. */
const RUN_VALUE_OPTIONS = new Set(SBATCH_PASS_THROUGH);

/** `ckpt sbatch --help`. */
export const SBATCH_HELP = `Usage: ckpt sbatch [sbatch options] [ckpt run options] [--lead D] [--dry-run] -- <command> [args...]

Writes and submits a batch script that runs the command under \`ckpt run\` with --requeue,
--open-mode=append and a warning signal before the time limit: the job checkpoints, requeues
itself and resumes until the command finishes. Prints the job id.

ckpt options: ${[...RUN_VALUE_OPTIONS].join(' ')} (see ckpt run --help)
  --store <dir>      the store (also before \`sbatch\`); %A, %a and %j are expanded in the job
                     from its SLURM ids, e.g. --store runs/%a gives each array task its own store
  --workdir <dir>    the directory the command runs in, made if missing; %A, %a, %j expanded.
                     A job array's tasks run in task-%a/ by default (--workdir . shares the
                     submit directory); command words naming files there are made absolute
  --lead <duration>  warning lead time (default: measured checkpoint time + 30 s + margin, capped so that
                     the warning never comes in the first half of --time)
  --dry-run          print the script, submit nothing
  --json             print {"jobId", "script"} as JSON
Every other option goes to sbatch unchanged (e.g. --time 2:00:00 -p long -N 1).`;

interface ParsedSbatchArgs {
  sbatchArgs: string[];
  runArgs: string[];
  command: string[];
  timeLimit: string | undefined;
  lead: string | undefined;
  warningSignal: string | undefined;
  config: string | undefined;
  store: string | undefined;
  workdir: string | undefined;
  dryRun: boolean;
  json: boolean;
  help: boolean;
}

/** Splits `ckpt sbatch`'s arguments into sbatch's, ckpt run's, and the command. Pure. */
export function parseSbatchArgs(args: readonly string[]): ParsedSbatchArgs {
  const out: ParsedSbatchArgs = {
    sbatchArgs: [],
    runArgs: [],
    command: [],
    timeLimit: undefined,
    lead: undefined,
    warningSignal: undefined,
    config: undefined,
    store: undefined,
    workdir: undefined,
    dryRun: false,
    json: false,
    help: false,
  };
  const dash = args.indexOf('--');
  const before = dash < 0 ? [...args] : args.slice(0, dash);
  out.command = dash < 0 ? [] : args.slice(dash + 1);
  for (let i = 0; i < before.length; i++) {
    const word = before[i]!;
    const [name, inline] =
      word.startsWith('--') && word.includes('=')
        ? [word.slice(0, word.indexOf('=')), word.slice(word.indexOf('=') + 1)]
        : [word, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = before[++i];
      if (next === undefined) throw new UsageError(`\`${name}\` needs a value.`);
      return next;
    };
    if (name === '--dry-run') out.dryRun = true;
    else if (name === '--json') out.json = true;
    else if (name === '--help' || name === '-h') out.help = true;
    else if (name === '--lead') out.lead = value();
    else if (name === '--store') out.store = value();
    else if (name === '--workdir') out.workdir = value();
    else if (RUN_VALUE_OPTIONS.has(name)) {
      const v = value();
      if (name === '--warning-signal') out.warningSignal = v;
      if (name === '--config') out.config = v;
      out.runArgs.push(name, v);
    } else {
      out.sbatchArgs.push(word);
      if (name === '--time' || name === '-t') {
        out.timeLimit = inline ?? before[i + 1];
        if (inline === undefined && before[i + 1] !== undefined) out.sbatchArgs.push(before[++i]!);
      } else if (/^-t.+/.test(word)) out.timeLimit = word.slice(2);
    }
  }
  return out;
}

/** The settings among `ckpt run` arguments (`--name value` pairs), as commander would give them. */
function settingFlags(runArgs: readonly string[]): Partial<Record<keyof RunSettings, unknown>> {
  const flags: Partial<Record<keyof RunSettings, unknown>> = {};
  for (let i = 0; i + 1 < runArgs.length; i += 2) {
    const spec = RUN_SETTINGS.find((s) => settingFlag(s.key) === runArgs[i]);
    if (!spec) continue;
    const value = runArgs[i + 1];
    flags[spec.key] = spec.repeatable ? [...((flags[spec.key] as string[] | undefined) ?? []), value] : value;
  }
  return flags;
}

/** `ckpt sbatch … -- CMD`: write the batch script, submit it (unless --dry-run), print the job id. */
export async function runSbatch(ctx: CommandContext, args: readonly string[]): Promise<number> {
  const parsed = parseSbatchArgs(args);
  if (parsed.help) {
    ctx.out(SBATCH_HELP);
    return 0;
  }
  if (parsed.command.length === 0) {
    throw new UsageError('`ckpt sbatch` needs a command after `--`.', {
      hint: 'Example: ckpt sbatch --time 2:00:00 --every 30m -- python3 sim.py',
    });
  }
  // The job's `ckpt run` resolves the same flags, environment (sbatch exports it) and config
  // file: check them now, and take the warning signal from where that run will.
  const { warningSignal } = resolveRunSettings(
    settingFlags(parsed.runArgs),
    process.env,
    await loadConfigFile(process.cwd(), parsed.config),
  ).settings;
  const { storeDir, workdir, command, notes } = placeTasks(ctx, parsed);
  if (!parsed.json) for (const note of notes) ctx.err(`ckpt: ${note}`);
  // A store path with %A/%a/%j names one store per job (array task), expanded by `ckpt run` in
  // the job: there is no single store to open now. A dry run creates nothing.
  const templated = hasJobPattern(storeDir);
  const store = templated
    ? undefined
    : parsed.dryRun
      ? await Store.open(storeDir).catch(() => undefined)
      : await Store.open(storeDir, { create: true });
  const leadSeconds = parsed.lead
    ? Math.round(parseDuration(parsed.lead, '--lead') / 1000)
    : chooseLeadSeconds(
        parsed.timeLimit === undefined ? undefined : parseSlurmTime(parsed.timeLimit),
        store ? measuredCheckpointMs((await readJournal(store.root)).events) : undefined,
      );
  const script = buildBatchScript({
    node: process.execPath,
    ckptBin: join(packageRoot(), 'bin', 'ckpt'),
    store: store?.root ?? storeDir,
    runArgs: parsed.runArgs,
    command,
    warningSignal,
    leadSeconds,
    ...(workdir === undefined ? {} : { workdir: shellPathPattern(workdir) }),
  });
  if (parsed.dryRun) {
    if (parsed.json) printJson(ctx, { jobId: null, script, sbatchArgs: parsed.sbatchArgs });
    else ctx.out(script.trimEnd());
    return 0;
  }
  // Kept for reference: in the store, or beside the per-task stores of a templated path.
  let scriptHome = storeDir;
  while (hasJobPattern(scriptHome)) scriptHome = dirname(scriptHome);
  const dir = store ? join(store.root, 'sbatch') : join(scriptHome, 'ckpt-sbatch');
  await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
  const path = join(dir, `job-${new Date().toISOString().replace(/[:.]/g, '-')}.sh`);
  await writeFileAtomic(path, Buffer.from(script), { mode: 0o700 });
  const jobId = await submitBatch(path, parsed.sbatchArgs);
  if (parsed.json) printJson(ctx, { jobId, script: path, store: storeDir, workdir: workdir ?? null });
  else ctx.out(jobId);
  return 0;
}

/**
 * Where the job runs and keeps its store. A job array's tasks run at once, so each needs a store
 * of its own (one store would lock out every task but one) and, by default, a working directory
 * of its own (else they overwrite each other's files, and a restore brings back another task's).
 * `notes` tell the user what was decided for them.
 */
function placeTasks(
  ctx: CommandContext,
  parsed: ParsedSbatchArgs,
): { storeDir: string; workdir: string | undefined; command: string[]; notes: string[] } {
  const named = parsed.store !== undefined || ctx.storeNamed === true;
  let storeDir = parsed.store === undefined ? ctx.storeDir : resolveStoreDir(parsed.store);
  const array = arrayOption(parsed.sbatchArgs);
  const asked = parsed.workdir === undefined ? undefined : resolve(parsed.workdir);
  const notes: string[] = [];
  const workdir = array === undefined ? asked : (asked ?? resolve(DEFAULT_TASK_DIR));
  if (array !== undefined && workdir !== undefined) {
    if (!named && differsPerTask(workdir)) {
      storeDir = join(workdir, DEFAULT_STORE_DIR);
      notes.push(`each task of the array runs in ${workdir} with its store in ${storeDir} (%a: its task id)`);
    } else if (!differsPerTask(storeDir)) {
      throw new UsageError(
        `\`--array=${array}\` runs its tasks at once, but they would share the store \`${storeDir}\`: every task but one would stop at once with "Store … is locked".`,
        {
          hint: `Give each task its own store with %a, e.g. --store '${storeDir}-%a'${named ? '' : ', or leave --workdir out (each task then gets task-%a/.ckpt)'}.`,
        },
      );
    } else if (asked === undefined) {
      notes.push(
        `each task of the array runs in ${workdir} (%a: its task id; --workdir . to share this directory)`,
      );
    }
  }
  if (workdir === undefined || workdir === process.cwd())
    return { storeDir, workdir: undefined, command: parsed.command, notes };
  const { command, anchored } = anchorCommand(parsed.command, process.cwd());
  if (anchored.length > 0)
    notes.push(`in the command, ${anchored.map((word) => `${word} is ${resolve(word)}`).join(', ')}`);
  return { storeDir, workdir, command, notes };
}
