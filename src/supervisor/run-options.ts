import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { type CompressionMode, DEFAULT_KEEP } from '../store/index.js';
import { formatDurationSpec, parseDuration } from './duration.js';

/** Defaults of `ckpt run`, as exported constants. */
export const DEFAULT_SIGNAL = 'SIGUSR2';
export const DEFAULT_GRACE_MS = 60_000;
export const DEFAULT_KILL_GRACE_MS = 10_000;
export const DEFAULT_MAX_RESTARTS = 3;
export const DEFAULT_BACKOFF_MS = 1_000;
/** The backoff doubles after each crash without progress, up to this. */
export const DEFAULT_MAX_BACKOFF_MS = 5 * 60_000;
export const DEFAULT_SETTLE_MS = 2_000;
/** Config files looked for in the working directory, in this order. */
export const CONFIG_FILES = ['ckpt.toml', 'ckpt.yaml', 'ckpt.yml'];

/** The resolved options of `ckpt run`: every value present, nothing `undefined` but the truly optional. */
export interface RunOptions {
  every: number | undefined;
  signal: NodeJS.Signals;
  capture: string[];
  grace: number;
  killGrace: number;
  maxRestarts: number;
  backoff: number;
  maxBackoff: number;
  settle: number;
  keep: number;
  compress: CompressionMode;
  restoreDir: string | undefined;
  /** A command that vouches for a captured file (exit 0 = complete); the file is in `CKPT_CHECK_FILE`. */
  check: string | undefined;
  /** Where a captured checkpoint's step comes from: a regex on file names, or `json:FIELD`. */
  stepFrom: string | undefined;
}

export type OptionSource = 'default' | `config ${string}` | `env ${string}` | 'flag';

interface Spec<K extends keyof RunOptions> {
  key: K;
  flag: string;
  env: string;
  parse: (raw: unknown, what: string) => RunOptions[K];
  show: (value: RunOptions[K]) => string;
}

const asString = (raw: unknown, what: string): string => {
  if (typeof raw === 'number') return String(raw);
  if (typeof raw !== 'string')
    throw new UsageError(`Expected \`${what}\` to be a string, got \`${JSON.stringify(raw)}\`.`);
  return raw;
};
/** Parses a non-negative integer flag; throws {@link UsageError} naming it. */
export function parseCount(raw: unknown, what: string): number {
  return count(0)(raw, what);
}

/** Parses a catchable signal name (`USR2` or `SIGUSR2`); throws {@link UsageError} naming it. */
export function parseSignal(raw: unknown, what: string): NodeJS.Signals {
  return signal(raw, what);
}

const duration = (raw: unknown, what: string): number => parseDuration(asString(raw, what), what);
const count =
  (min: number) =>
  (raw: unknown, what: string): number => {
    const text = asString(raw, what);
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || n < min) {
      throw new UsageError(`Expected \`${what}\` to be an integer ≥ ${min}, got \`${text}\`.`);
    }
    return n;
  };
const signal = (raw: unknown, what: string): NodeJS.Signals => {
  const text = asString(raw, what).toUpperCase();
  const name = (text.startsWith('SIG') ? text : `SIG${text}`) as NodeJS.Signals;
  if (!(name in constants.signals) || name === 'SIGKILL' || name === 'SIGSTOP') {
    throw new UsageError(
      `Expected \`${what}\` to be a catchable signal name like SIGUSR2, got \`${String(raw)}\`.`,
    );
  }
  return name;
};
const globs = (raw: unknown, what: string): string[] => {
  const list = Array.isArray(raw) ? raw : asString(raw, what).split(',');
  return list.map((g) => asString(g, what).trim()).filter((g) => g !== '');
};
const show = String;
const showMs = (ms: number): string => formatDurationSpec(ms);

const SPECS = [
  {
    key: 'every',
    flag: '--every',
    env: 'CKPT_EVERY',
    parse: duration,
    show: (v) => (v === undefined ? 'never' : showMs(v)),
  } as Spec<'every'>,
  { key: 'signal', flag: '--signal', env: 'CKPT_SIGNAL', parse: signal, show } as Spec<'signal'>,
  {
    key: 'capture',
    flag: '--capture',
    env: 'CKPT_CAPTURE',
    parse: globs,
    show: (v) => (v.length ? v.join(', ') : 'none'),
  } as Spec<'capture'>,
  { key: 'grace', flag: '--grace', env: 'CKPT_GRACE', parse: duration, show: showMs } as Spec<'grace'>,
  {
    key: 'killGrace',
    flag: '--kill-grace',
    env: 'CKPT_KILL_GRACE',
    parse: duration,
    show: showMs,
  } as Spec<'killGrace'>,
  {
    key: 'maxRestarts',
    flag: '--max-restarts',
    env: 'CKPT_MAX_RESTARTS',
    parse: count(0),
    show,
  } as Spec<'maxRestarts'>,
  {
    key: 'backoff',
    flag: '--backoff',
    env: 'CKPT_BACKOFF',
    parse: duration,
    show: showMs,
  } as Spec<'backoff'>,
  {
    key: 'maxBackoff',
    flag: '--max-backoff',
    env: 'CKPT_MAX_BACKOFF',
    parse: duration,
    show: showMs,
  } as Spec<'maxBackoff'>,
  { key: 'settle', flag: '--settle', env: 'CKPT_SETTLE', parse: duration, show: showMs } as Spec<'settle'>,
  { key: 'keep', flag: '--keep', env: 'CKPT_KEEP', parse: count(1), show } as Spec<'keep'>,
  {
    key: 'compress',
    flag: '--compress',
    env: 'CKPT_COMPRESS',
    parse: (raw, what) => {
      const v = asString(raw, what);
      if (v !== 'auto' && v !== 'off')
        throw new UsageError(`Expected \`${what}\` to be auto or off, got \`${v}\`.`);
      return v;
    },
    show,
  } as Spec<'compress'>,
  {
    key: 'restoreDir',
    flag: '--restore-dir',
    env: 'CKPT_RESTORE_DIR',
    parse: (raw, what) => resolve(asString(raw, what)),
    show: (v) => v ?? 'the working directory',
  } as Spec<'restoreDir'>,
  {
    key: 'check',
    flag: '--check',
    env: 'CKPT_CHECK',
    parse: (raw, what) => {
      const v = asString(raw, what).trim();
      if (v === '') throw new UsageError(`Expected \`${what}\` to be a command, got an empty string.`);
      return v;
    },
    show: (v) => v ?? 'none',
  } as Spec<'check'>,
  {
    key: 'stepFrom',
    flag: '--step-from',
    env: 'CKPT_STEP_FROM',
    parse: (raw, what) => {
      const v = asString(raw, what);
      parseStepSource(v, what);
      return v;
    },
    show: (v) => v ?? 'a capture counter',
  } as Spec<'stepFrom'>,
] as const;

/** How `--step-from` finds a captured checkpoint's step. */
export type StepSource = { kind: 'name'; pattern: RegExp } | { kind: 'json'; field: string };

/**
 * Parses `--step-from`: `json:FIELD` (a number field of a captured JSON file), or a regular
 * expression matched against the captured files' paths whose first group (or first number) is
 * the step, e.g. `chk_(\d+)`. Throws {@link UsageError} naming the flag.
 */
export function parseStepSource(text: string, what = '--step-from'): StepSource {
  if (text.startsWith('json:')) {
    const field = text.slice(5);
    if (!/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(field)) {
      throw new UsageError(
        `Expected \`${what}\` json:FIELD to name a field like \`step\` or \`state.step\`, got \`${field}\`.`,
      );
    }
    return { kind: 'json', field };
  }
  try {
    return { kind: 'name', pattern: new RegExp(text) };
  } catch (error) {
    throw new UsageError(
      `Expected \`${what}\` to be a regular expression or json:FIELD, got \`${text}\`: ${(error as Error).message}.`,
      {
        hint: 'Example: --step-from "chk_(\\d+)" takes 400 from out/chk_400.pkl.',
      },
    );
  }
}

const DEFAULTS: RunOptions = {
  every: undefined,
  signal: DEFAULT_SIGNAL,
  capture: [],
  grace: DEFAULT_GRACE_MS,
  killGrace: DEFAULT_KILL_GRACE_MS,
  maxRestarts: DEFAULT_MAX_RESTARTS,
  backoff: DEFAULT_BACKOFF_MS,
  maxBackoff: DEFAULT_MAX_BACKOFF_MS,
  settle: DEFAULT_SETTLE_MS,
  keep: DEFAULT_KEEP,
  compress: 'auto',
  restoreDir: undefined,
  check: undefined,
  stepFrom: undefined,
};

export interface ResolvedRunOptions {
  options: RunOptions;
  sources: Record<keyof RunOptions, OptionSource>;
  configFile: string | undefined;
}

/** Config keys are the flag names without dashes (`max-restarts`), or camelCase. */
function configKey(name: string): keyof RunOptions | undefined {
  const camel = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return SPECS.find((s) => s.key === camel)?.key;
}

/** Reads `ckpt.toml` / `ckpt.yaml` (or `path`); throws {@link UsageError} naming the file and the problem. */
export async function loadConfigFile(
  cwd: string,
  path?: string,
): Promise<{ file: string; values: Record<string, unknown> } | undefined> {
  const file = path ? resolve(cwd, path) : CONFIG_FILES.map((f) => join(cwd, f)).find((f) => existsSync(f));
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read config file \`${file}\`: ${(error as Error).message}.`);
  }
  let parsed: unknown;
  try {
    // Parsers load only when a config file exists: start-up stays fast.
    parsed = file.endsWith('.toml') ? (await import('smol-toml')).parse(text) : await parseYaml(text);
  } catch (error) {
    throw new UsageError(
      `Config file \`${file}\` is not valid ${file.endsWith('.toml') ? 'TOML' : 'YAML'}: ${(error as Error).message}`,
    );
  }
  if (parsed === null || parsed === undefined) return { file, values: {} };
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`Config file \`${file}\` must hold key = value settings.`);
  }
  const table = (parsed as Record<string, unknown>).run ?? parsed;
  return { file, values: table as Record<string, unknown> };
}

async function parseYaml(text: string): Promise<unknown> {
  // NOTE: `yaml` is CommonJS for Node; in the CLI's esbuild bundle its dynamic import has only a
  // default export (module.exports), so use that: every build of `yaml` has it.
  return (await import('yaml')).default.parse(text);
}

/**
 * Resolves `ckpt run`'s options: defaults, then the config file, then `CKPT_*` environment
 * variables, then flags. Records where each value came from (for `--print-config`).
 */
export function resolveRunOptions(
  flags: Partial<Record<keyof RunOptions, unknown>>,
  env: NodeJS.ProcessEnv,
  config: { file: string; values: Record<string, unknown> } | undefined,
): ResolvedRunOptions {
  const options: RunOptions = { ...DEFAULTS, capture: [] };
  const sources = Object.fromEntries(SPECS.map((s) => [s.key, 'default'])) as Record<
    keyof RunOptions,
    OptionSource
  >;
  const set = (key: keyof RunOptions, raw: unknown, what: string, source: OptionSource): void => {
    const spec = SPECS.find((s) => s.key === key)!;
    (options as unknown as Record<string, unknown>)[key] = spec.parse(raw, what);
    sources[key] = source;
  };
  if (config) {
    for (const [name, raw] of Object.entries(config.values)) {
      if (name === 'run') continue;
      const key = configKey(name);
      if (!key) {
        throw new UsageError(`Unknown setting \`${name}\` in \`${config.file}\`.`, {
          hint: `Known settings: ${SPECS.map((s) => s.flag.slice(2)).join(', ')}.`,
        });
      }
      set(key, raw, `${name}\` in \`${config.file}`, `config ${config.file}`);
    }
  }
  for (const spec of SPECS) {
    const raw = env[spec.env];
    if (raw !== undefined && raw !== '') set(spec.key, raw, spec.env, `env ${spec.env}`);
  }
  for (const spec of SPECS) {
    const raw = flags[spec.key];
    if (raw !== undefined) set(spec.key, raw, spec.flag, 'flag');
  }
  if (options.every !== undefined && options.every < 1000) {
    throw new UsageError(`Expected \`--every\` to be at least 1s, got \`${showMs(options.every)}\`.`);
  }
  return { options, sources, configFile: config?.file };
}

/** The `--print-config` table: each setting, its value and where it came from. */
export function describeRunOptions(
  resolved: ResolvedRunOptions,
): Array<{ setting: string; value: string; from: string }> {
  return SPECS.map((spec) => ({
    setting: spec.flag.slice(2),
    value: (spec.show as (v: unknown) => string)(resolved.options[spec.key]),
    from: resolved.sources[spec.key],
  }));
}
