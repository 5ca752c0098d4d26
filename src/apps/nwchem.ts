import { existsSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, normalize, relative } from 'node:path';
import { UsageError } from '../errors.js';
import type { AppBehavior } from '../supervisor/index.js';
import { signalGroup } from '../supervisor/index.js';
import type { AppContext } from './app-options.js';
import type { Add, AppSpec } from './app-spec.js';

/** Where ckpt writes the restart copy of the input (in the working directory: relative paths hold). */
const NWCHEM_RESTART_DIR = '.ckpt-nwchem';

/**
 * The permanent files of a calculation (in `permanent_dir`): the runtime database, the orbitals,
 * the driver's Hessian, the optimizer's internal coordinates. Never scratch files.
 */
const PERMANENT_SUFFIXES = ['db', 'movecs', 'drv.hess', 'hess', 'zmat'];

/**
 * How long NWChem's files must all be unchanged to be captured. It rewrites the orbitals and
 * the database in place at every SCF iteration (measured: quiet for at most 0.5 s at a time in a
 * small DFT optimization), and each write is over in microseconds: a fifth of a second without
 * a change is a moment between writes.
 */
const NWCHEM_SETTLE_MS = 200;

/** Tasks whose restart is broken upstream (NWChem issues #720, #57, #150). */
const BROKEN_RESTARTS: { pattern: RegExp; what: string }[] = [
  { pattern: /^task\s+\S+\s+qmd\b/i, what: 'QMD (a restart diverges from a continuous run, nwchem #720)' },
  {
    pattern: /^task\s+\S+\s+rt_tddft\b|^task\s+rt_tddft\b/i,
    what: 'RT-TDDFT (a restart starts over, nwchem #57)',
  },
  { pattern: /^task\s+tce\b/i, what: 'TCE (its restart needs its own set-up, nwchem #150)' },
];

/** What ckpt needs from an NWChem input. */
export interface NwchemInput {
  /** The input file as given on the command line. */
  path: string;
  text: string;
  /** The file prefix: `start NAME` (or `restart NAME`), else the input's name without `.nw`. */
  prefix: string;
  /** Whether the input says `start` or `restart` itself. */
  startDirective: boolean;
  /** `permanent_dir`, relative to the working directory ('' for the directory itself). */
  permanentDir: string;
}

/** The input's lines without comments (`#` to the end of the line), split into words. */
function directives(text: string): string[][] {
  return text.split('\n').map((line) => line.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean));
}

/** NWChem's input when its command names none: `nwchem` reads `nwchem.nw`. */
const DEFAULT_INPUT = 'nwchem.nw';

/**
 * Where the input is in an nwchem command, as nwchem finds it: the last argument that names an
 * existing file, or `NAME` for `NAME.nw`; with no argument after the program, `nwchem.nw`
 * (`at` is then the end of the command, where a restart copy is added). Undefined when there is
 * none; `named` is then the argument nwchem would have read, if any.
 */
function nwchemInputArg(
  command: readonly string[],
  cwd: string,
): { at: number; path: string } | { at: undefined; named: string | undefined } {
  const isFile = (path: string) => existsSync(join(cwd, path)) && statSync(join(cwd, path)).isFile();
  const last = command.length - 1;
  for (let i = last; i >= 0; i--) {
    const word = command[i]!;
    if (word.startsWith('-')) continue;
    if (basename(word) === 'nwchem' && i === last) {
      return isFile(DEFAULT_INPUT)
        ? { at: command.length, path: DEFAULT_INPUT }
        : { at: undefined, named: undefined };
    }
    if (i === 0) break;
    if (isFile(word)) return { at: i, path: word };
    if (!word.endsWith('.nw') && isFile(`${word}.nw`)) return { at: i, path: `${word}.nw` };
  }
  const after = command.findIndex((w) => basename(w) === 'nwchem');
  const named = command.slice(after + 1).findLast((w) => !w.startsWith('-'));
  return { at: undefined, named };
}

/**
 * Reads the input of `nwchem FILE` (or `mpirun … nwchem FILE`). Throws {@link UsageError} when
 * there is none or `permanent_dir` is outside the working directory.
 */
export function readNwchemInput(command: readonly string[], cwd: string): NwchemInput {
  const found = nwchemInputArg(command, cwd);
  if (found.at === undefined) {
    const hint = 'Run `nwchem FILE.nw` in the directory that holds FILE.nw (not `nwchem < FILE.nw`).';
    if (found.named === undefined) {
      throw new UsageError(
        `\`--app nwchem\` needs the input file: the command names none, and there is no \`${DEFAULT_INPUT}\` (what nwchem reads then) in ${cwd}.`,
        { hint },
      );
    }
    throw new UsageError(
      `The NWChem input \`${found.named}\` is not a file in ${cwd}${found.named.endsWith('.nw') ? '' : ` (nor is \`${found.named}.nw\`)`}.`,
      { hint },
    );
  }
  const path = found.path;
  let text: string;
  try {
    text = readFileSync(join(cwd, path), 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read the NWChem input \`${path}\`: ${(error as Error).message}.`, {
      hint: 'Give nwchem an input file it can read, relative to the working directory.',
    });
  }
  let prefix = basename(path).replace(/\.nw$/, '');
  let startDirective = false;
  let dir = '.';
  for (const words of directives(text)) {
    const key = words[0]?.toLowerCase();
    if (key === 'start' || key === 'restart') {
      startDirective = true;
      if (words[1]) prefix = words[1];
    }
    // `permanent_dir [host:]dir …`: one directory for every process here.
    if (key === 'permanent_dir' && words[1]) dir = words[1].replace(/^[^:/]+:(?=\S)/, '');
  }
  const rel = normalize(relative(cwd, isAbsolute(dir) ? dir : join(cwd, dir)));
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new UsageError(`NWChem's permanent_dir \`${dir}\` is outside the working directory \`${cwd}\`.`, {
      hint: 'ckpt captures only files under the working directory: set `permanent_dir ./perm`.',
    });
  }
  return { path, text, prefix, startDirective, permanentDir: rel === '.' ? '' : rel };
}

/**
 * The restart copy of an input: `start` becomes `restart` (which reuses the runtime database;
 * an input without either gets `restart PREFIX` first), and `geometry … end` blocks are left
 * out: on a restart they would reset an optimization to its first geometry (the database holds
 * the current one). Everything else, the `task` lines included, stays as written.
 */
export function restartInput(input: Pick<NwchemInput, 'text' | 'prefix' | 'startDirective'>): string {
  const out: string[] = input.startDirective ? [] : [`restart ${input.prefix}`];
  let depth = 0;
  for (const line of input.text.split('\n')) {
    const key = line.replace(/#.*/, '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
    if (depth === 0 && key === 'geometry') {
      depth = 1;
      continue;
    }
    if (depth > 0) {
      // Sub-blocks with an `end` of their own: zmatrix, zcoord, system.
      if (['zmatrix', 'zcoord', 'system'].includes(key)) depth++;
      else if (key === 'end') depth--;
      continue;
    }
    out.push(key === 'start' ? line.replace(/^(\s*)start\b/i, '$1restart') : line);
  }
  return out.join('\n');
}

/**
 * NWChem (`nwchem FILE.nw`, alone or under mpirun). It has no checkpoint on a signal (SIGTERM
 * aborts it, exit 143) and keeps its state in the runtime database `PREFIX.db`, held open for
 * writing the whole run, and companion files in `permanent_dir`, all rewritten in place. ckpt
 * captures them whenever all have been unchanged for {@link NWCHEM_SETTLE_MS} (a moment between
 * writes; the read is checked unchanged from start to end), treats a stop as an abort that keeps
 * the last capture, and restarts from a copy of the input that says `restart` and has no
 * geometry block. Files newer than the checkpoint (torn by a kill, perhaps) are set aside by the
 * restore.
 */
export function nwchemApp(ctx: AppContext): AppBehavior {
  const input = readNwchemInput(ctx.command, ctx.cwd);
  const at = (name: string) => (input.permanentDir ? `${input.permanentDir}/${name}` : name);
  const db = at(`${input.prefix}.db`);
  return {
    name: 'nwchem',
    checkpointSignal: false, // NWChem writes its files on its own schedule
    async command(base, start) {
      if (!start.resumeFrom) return [...base];
      const copy = join(NWCHEM_RESTART_DIR, basename(input.path));
      await fsp.mkdir(join(start.cwd, NWCHEM_RESTART_DIR), { recursive: true });
      await fsp.writeFile(join(start.cwd, copy), restartInput(input));
      const argv = [...base];
      const found = nwchemInputArg(argv, start.cwd);
      if (found.at === undefined) throw new UsageError(`The NWChem input of \`${argv.join(' ')}\` is gone.`);
      argv[found.at] = copy; // past the end for `nwchem` alone: the copy is added
      return argv;
    },
    capture: {
      globs: PERMANENT_SUFFIXES.map((suffix) => at(`${input.prefix}.${suffix}`)),
      // Nothing to restart from without the database.
      isComplete: async (files) => files.includes(db),
      settleMs: NWCHEM_SETTLE_MS,
      heldOpen: [db],
    },
    async requestStop({ pgid }) {
      // No graceful stop exists: SIGTERM aborts it; the last capture is what a restart resumes.
      signalGroup(pgid, 'SIGTERM');
    },
    async classifyExit(exit) {
      // Never 'stopped': that would vouch for files the abort may have torn.
      return exit.code === 0 ? 'finished' : 'failed';
    },
  };
}

function checkNwchem(command: readonly string[], cwd: string, add: Add): void {
  let input: NwchemInput;
  try {
    input = readNwchemInput(command, cwd);
  } catch (error) {
    const { message, hint } = error as Error & { hint?: string };
    add('error', 'NWCHEM_INPUT', message, hint ?? 'Run `nwchem FILE.nw`.');
    return;
  }
  if (input.permanentDir && !existsSync(join(cwd, input.permanentDir))) {
    add(
      'error',
      'NWCHEM_PERMANENT_DIR',
      `permanent_dir \`${input.permanentDir}\` does not exist: nwchem stops at once ("could not open a file in permanent directory").`,
      `mkdir -p ${input.permanentDir}`,
    );
  }
  for (const words of directives(input.text)) {
    // `scratch_dir [host:]dir …`: nwchem stops at once when it is not there (error 911).
    if (words[0]?.toLowerCase() === 'scratch_dir' && words[1]) {
      const dir = words[1].replace(/^[^:/]+:(?=\S)/, '');
      if (!existsSync(isAbsolute(dir) ? dir : join(cwd, dir))) {
        add(
          'error',
          'NWCHEM_SCRATCH_DIR',
          `scratch_dir \`${dir}\` does not exist: nwchem stops at once ("scratch directory not accessible").`,
          `mkdir -p ${dir}`,
        );
      }
    }
    const line = words.join(' ');
    for (const broken of BROKEN_RESTARTS) {
      if (broken.pattern.test(line)) {
        add(
          'warning',
          'NWCHEM_BROKEN_RESTART',
          `\`${line}\`: ${broken.what}. A resumed run is not a continuation of this task.`,
          'Run this task without interruptions, or accept that a restart repeats or changes it.',
        );
      }
    }
  }
  if (/^\s*restart\b/im.test(input.text.replace(/#.*/g, ''))) {
    add(
      'warning',
      'NWCHEM_RESTART_INPUT',
      'The input says `restart`: its first start reuses whatever database is in permanent_dir, not a checkpoint.',
      'Use `start PREFIX`; ckpt writes a `restart` copy of the input when it resumes.',
    );
  }
}

export const nwchem: AppSpec = {
  name: 'nwchem',
  create: (ctx) => nwchemApp(ctx),
  install: {
    // NWChem prints its version only when it runs an input: a one-line input that does nothing.
    command: () => 'sh',
    args: ['-c', 'echo echo > probe.nw && exec nwchem probe.nw'],
    label: 'nwchem',
    version: /Computational Chemistry Package \(NWChem\) (\S+)/,
    fix: 'apt-get install nwchem',
  },
  doctor: checkNwchem,
};
