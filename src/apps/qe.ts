import { promises as fsp, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, relative } from 'node:path';
import { UsageError } from '../errors.js';
import type { Entry } from '../store/index.js';
import type { AppBehavior } from '../supervisor/index.js';
import { ASIDE_DIR } from '../supervisor/prepare-restore.js';
import { type AppContext, argValue } from './app-options.js';
import type { Add, AppSpec } from './app-spec.js';

/** The flags `pw.x` takes its input file with. */
const INPUT_FLAGS = ['-in', '-i', '-inp', '-input'];
/** Where ckpt writes the restart copy of the input (in the working directory: QE's relative paths hold). */
export const QE_RESTART_DIR = '.ckpt-qe';

/** A value from a Fortran namelist group of a QE input (`&control … /`), unquoted; keys are case-blind. */
export function namelistValue(input: string, group: string, key: string): string | undefined {
  const body = namelistGroup(input, group)?.body;
  if (body === undefined) return undefined;
  const pattern = new RegExp(`(?:^|[\\s,])${key}\\s*=\\s*('[^']*'|"[^"]*"|[^\\s,]+)`, 'i');
  const raw = pattern.exec(withoutComments(body))?.[1];
  return raw?.replace(/^['"]|['"]$/g, '');
}

function withoutComments(text: string): string {
  // `!` starts a comment outside quotes.
  return text
    .split('\n')
    .map((line) => {
      let quote = '';
      for (let i = 0; i < line.length; i++) {
        const c = line[i]!;
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === "'" || c === '"') quote = c;
        else if (c === '!') return line.slice(0, i);
      }
      return line;
    })
    .join('\n');
}

/** The group `&name … /` of a namelist input: its body and where it sits. */
function namelistGroup(input: string, group: string): { start: number; body: string } | undefined {
  const open = new RegExp(`^[ \\t]*&${group}\\b[^\\n]*\\n?`, 'im').exec(input);
  if (!open) return undefined;
  const start = open.index + open[0].length;
  // The group ends at a `/` alone on its line (values never hold a bare `/` line).
  const close = /^[ \t]*\/[ \t]*$/m.exec(input.slice(start));
  return { start, body: input.slice(start, close ? start + close.index : undefined) };
}

/**
 * The input with `restart_mode = 'restart'` in `&control`: any `restart_mode` there is replaced
 * (commented out), and the new one goes first in the group.
 */
export function withRestartMode(input: string): string {
  const group = namelistGroup(input, 'control');
  if (!group) throw new Error('the input has no &control group');
  const body = group.body
    .split('\n')
    .map((line) =>
      /(^|[\s,])restart_mode\s*=/i.test(withoutComments(line))
        ? line.replace(/restart_mode\s*=\s*('[^']*'|"[^"]*"|[^\s,]+)\s*,?/i, '')
        : line,
    )
    .join('\n');
  return `${input.slice(0, group.start)}  restart_mode = 'restart'\n${body}${input.slice(group.start + group.body.length)}`;
}

/** What ckpt needs from a pw.x input: where its restart data lives. */
export interface QeInput {
  /** The input file as given on the command line. */
  path: string;
  text: string;
  prefix: string;
  /** `outdir`, relative to the working directory ('' for the directory itself). */
  outdir: string;
}

/**
 * Reads the input named by `-in` (or `-i`, `-inp`, `-input`). Throws {@link UsageError} when
 * there is none (QE read from standard input cannot be restarted by ckpt) or when `outdir` is
 * outside the working directory (ckpt captures only what is under it).
 */
export function readQeInput(command: readonly string[], cwd: string): QeInput {
  const path = argValue(command, ...INPUT_FLAGS);
  if (!path) {
    throw new UsageError('`--app qe` needs the input file on the command line, got none.', {
      hint: 'Run `pw.x -in FILE` (not `pw.x < FILE`): ckpt writes a restart copy of the input.',
    });
  }
  let text: string;
  try {
    text = readFileSync(join(cwd, path), 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read the QE input \`${path}\`: ${(error as Error).message}.`, {
      hint: 'Give pw.x an input file that exists, relative to the working directory.',
    });
  }
  const prefix = namelistValue(text, 'control', 'prefix') ?? 'pwscf';
  const given = namelistValue(text, 'control', 'outdir') ?? process.env.ESPRESSO_TMPDIR ?? './';
  const outdir = normalize(relative(cwd, isAbsolute(given) ? given : join(cwd, given)));
  if (outdir.startsWith('..') || isAbsolute(outdir)) {
    throw new UsageError(`QE's outdir \`${given}\` is outside the working directory \`${cwd}\`.`, {
      hint: "ckpt captures only files under the working directory: set outdir = './out' in &control.",
    });
  }
  return { path, text, prefix, outdir: outdir === '.' ? '' : outdir };
}

/** The restart data pw.x writes in outdir, as globs relative to the working directory. */
export function qeRestartGlobs(input: Pick<QeInput, 'prefix' | 'outdir'>): string[] {
  const at = (name: string) => (input.outdir ? `${input.outdir}/${name}` : name);
  return [
    at(`${input.prefix}.save/**`),
    at(`${input.prefix}.bfgs`),
    at(`${input.prefix}.update`),
    ...SCF_RESTART.map((suffix) => at(`${input.prefix}.${suffix}`)),
  ];
}

/** What a stop in the SCF loop adds to the restart data: the k-point/iteration, mixing, wavefunctions. */
const SCF_RESTART = ['restart_*', 'mix*', 'wfc*'];

/** Whether the file `name` in outdir is SCF-loop state of a stop (see {@link SCF_RESTART}). */
function isScfState(name: string, prefix: string): boolean {
  return name.startsWith(`${prefix}.`) && /^(restart_\w+|mix\d*|wfc\d*)$/.test(name.slice(prefix.length + 1));
}

/**
 * Quantum ESPRESSO (`pw.x -in FILE`, alone or under mpirun). pw.x has no checkpoint signal; it
 * writes its restart data in `outdir` after each ionic step of a relaxation, and when it stops
 * early: within ~0.1 s of a file `<prefix>.EXIT` appearing in its working directory it writes
 * the SCF loop's state and exits 2 (it removes the file). ckpt stops it that way, captures the
 * restart data whenever it is complete (nothing open for writing, the XML closed), and resumes
 * with a copy of the input that says `restart_mode = 'restart'`.
 */
export function qeApp(ctx: AppContext): AppBehavior {
  const input = readQeInput(ctx.command, ctx.cwd);
  const exitFile = `${input.prefix}.EXIT`;
  const xml = input.outdir
    ? `${input.outdir}/${input.prefix}.save/data-file-schema.xml`
    : `${input.prefix}.save/data-file-schema.xml`;
  let stopRequested = false;
  return {
    name: 'qe',
    checkpointSignal: false, // pw.x writes restart data on its own schedule (each ionic step)
    async command(base, start) {
      if (!start.resumeFrom) return [...base];
      await setAsideStaleScfState(start.cwd, input, start.resumeFrom.entries);
      const copy = join(QE_RESTART_DIR, basename(input.path));
      await fsp.mkdir(join(start.cwd, QE_RESTART_DIR), { recursive: true });
      await fsp.writeFile(join(start.cwd, copy), withRestartMode(input.text));
      const argv = [...base];
      const at = argv.findIndex((word, i) => INPUT_FLAGS.includes(word) && i < argv.length - 1);
      argv[at + 1] = copy;
      return argv;
    },
    capture: {
      globs: qeRestartGlobs(input),
      async isComplete(files, cwd) {
        if (!files.includes(xml)) return false;
        const text = await fsp.readFile(join(cwd, xml), 'utf8').catch(() => '');
        if (!/<\/qes:espresso>\s*$/.test(text)) return false;
        // A stop inside the SCF loop writes restart_scf, and inside its k-point loop restart_k
        // first: restart_k without restart_scf is half a stop.
        const has = (kind: string) => files.some((f) => f.endsWith(`.restart_${kind}`));
        return has('scf') || !has('k');
      },
      // pw.x writes its SCF-loop state when it stops, and after a resume holds the wavefunctions
      // open for writing the whole run: while it runs, a capture is of the ionic step only.
      onlyAfterExit: (path) => isScfState(basename(path), input.prefix),
    },
    async beforeStart(cwd) {
      stopRequested = false;
      await fsp.rm(join(cwd, exitFile), { force: true }); // a leftover would stop pw.x at once
    },
    async requestStop({ cwd }) {
      stopRequested = true;
      await fsp.writeFile(join(cwd, exitFile), '');
    },
    async classifyExit(exit) {
      if (exit.code === 0) return 'finished';
      // `STOP 2` after "Program stopped by user request".
      return stopRequested && exit.code === 2 ? 'stopped' : 'failed';
    },
  };
}

/**
 * Moves SCF-loop restart files that the checkpoint being resumed does not hold into
 * `.ckpt-aside/<time>/`: they come from an older stop, and pw.x would resume its SCF loop from
 * them (files newer than the checkpoint were already set aside by the restore).
 */
async function setAsideStaleScfState(cwd: string, input: QeInput, entries: readonly Entry[]): Promise<void> {
  const held = new Set(entries.flatMap((e) => ('path' in e ? [e.path] : [])));
  const names = await fsp.readdir(join(cwd, input.outdir)).catch(() => [] as string[]);
  const stale = names
    .filter((name) => name.startsWith(`${input.prefix}.`))
    .filter((name) => isScfState(name, input.prefix))
    .map((name) => (input.outdir ? `${input.outdir}/${name}` : name))
    .filter((path) => !held.has(path));
  if (stale.length === 0) return;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const path of stale) {
    const to = join(cwd, ASIDE_DIR, stamp, path);
    await fsp.mkdir(dirname(to), { recursive: true, mode: 0o700 });
    await fsp.rename(join(cwd, path), to);
  }
  process.stderr.write(
    `ckpt: set aside ${stale.length} SCF restart file(s) of an older stop into ${ASIDE_DIR}/ (${stale.join(', ')}): the checkpoint resumed does not hold them\n`,
  );
}

function checkQe(command: readonly string[], cwd: string, add: Add): void {
  let input: ReturnType<typeof readQeInput>;
  try {
    input = readQeInput(command, cwd);
  } catch (error) {
    const { message, hint } = error as Error & { hint?: string };
    add('error', 'QE_INPUT', message, hint ?? 'Run `pw.x -in FILE`.');
    return;
  }
  const calculation = namelistValue(input.text, 'control', 'calculation') ?? 'scf';
  if (['scf', 'nscf', 'bands'].includes(calculation.toLowerCase())) {
    add(
      'warning',
      'QE_NO_PERIODIC',
      `calculation = '${calculation}' writes restart data only when pw.x stops or ends: a stop through ckpt (SIGTERM, a deadline) keeps the SCF loop's state, a crash or SIGKILL starts over.`,
      "Expected for a single SCF; relaxations and MD ('relax', 'vc-relax', 'md') write it after each ionic step.",
    );
  }
  if (/^\s*restart_mode\s*=\s*['"]restart['"]/im.test(input.text)) {
    add(
      'warning',
      'QE_RESTART_MODE',
      "The input already says restart_mode = 'restart': its first start resumes whatever is in outdir, not a checkpoint.",
      "Use restart_mode = 'from_scratch' (the default); ckpt sets 'restart' in a copy of the input when it resumes.",
    );
  }
}

export const qe: AppSpec = {
  name: 'qe',
  create: (ctx) => qeApp(ctx),
  install: {
    command: () => 'pw.x',
    args: ['-h'],
    version: /Program PWSCF (v\.\S+)/,
    fix: 'apt-get install quantum-espresso',
  },
  doctor: checkQe,
};
