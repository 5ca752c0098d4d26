import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { suggestSimilar } from '../suggest.js';
import { formatDurationSpec } from '../supervisor/index.js';
import { RUN_SETTINGS, type RunSettings, settingEnv, settingFlag, settingName } from './run-settings.js';

/** Config files looked for in the working directory, in this order. */
export const CONFIG_FILES = ['ckpt.toml', 'ckpt.yaml', 'ckpt.yml'];

/** Where a setting's value came from (shown by `--print-config`). */
export type OptionSource = 'default' | `config ${string}` | `env ${string}` | 'flag';

/** A config file's settings, as read. */
export interface ConfigFile {
  file: string;
  values: Record<string, unknown>;
}

/** Every setting resolved, where each came from, and the config file read (if any). */
export interface ResolvedRunSettings {
  settings: RunSettings;
  sources: Record<keyof RunSettings, OptionSource>;
  configFile: string | undefined;
}

/** Reads `ckpt.toml` / `ckpt.yaml` (or `path`); throws {@link UsageError} naming the file and the problem. */
export async function loadConfigFile(cwd: string, path?: string): Promise<ConfigFile | undefined> {
  const file = path ? resolve(cwd, path) : CONFIG_FILES.map((f) => join(cwd, f)).find((f) => existsSync(f));
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read config file \`${file}\`: ${(error as Error).message}.`, {
      hint: 'Check the path given to `--config`.',
    });
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
    throw new UsageError(`Config file \`${file}\` must hold key = value settings.`, {
      hint: 'Example: every = "10m"',
    });
  }
  const table = (parsed as Record<string, unknown>).run ?? parsed;
  return { file, values: table as Record<string, unknown> };
}

async function parseYaml(text: string): Promise<unknown> {
  // NOTE: `yaml` is CommonJS for Node; in the CLI's esbuild bundle its dynamic import has only a
  // default export (module.exports), so use that: every build of `yaml` has it.
  return (await import('yaml')).default.parse(text);
}

/** Config keys are the flag names without dashes (`max-restarts`), or camelCase (`maxRestarts`). */
function settingForKey(name: string): keyof RunSettings | undefined {
  return RUN_SETTINGS.find((s) => s.key === name || settingName(s.key) === name)?.key;
}

function unknownKey(name: string, file: string): UsageError {
  const known = RUN_SETTINGS.map((s) => settingName(s.key));
  const close = suggestSimilar(name, [...known, ...RUN_SETTINGS.map((s) => s.key)]);
  const suggestion = close === undefined ? undefined : settingName(close as keyof RunSettings);
  return new UsageError(
    `Unknown setting \`${name}\` in \`${file}\`.${suggestion ? ` Did you mean \`${suggestion}\`?` : ''}`,
    { hint: `Known settings: ${known.join(', ')}.` },
  );
}

/**
 * Resolves every `ckpt run` setting: its default, then the config file, then its `CKPT_*`
 * environment variable (empty = unset), then its flag. Records where each came from. Throws
 * {@link UsageError} naming the setting, its source and the value, for an unknown config key
 * (with a "did you mean") or a bad value.
 */
export function resolveRunSettings(
  flags: Partial<Record<keyof RunSettings, unknown>>,
  env: NodeJS.ProcessEnv,
  config: ConfigFile | undefined,
): ResolvedRunSettings {
  const settings = Object.fromEntries(RUN_SETTINGS.map((s) => [s.key, s.initial])) as unknown as RunSettings;
  settings.capture = [];
  const sources = Object.fromEntries(RUN_SETTINGS.map((s) => [s.key, 'default'])) as Record<
    keyof RunSettings,
    OptionSource
  >;
  const set = (key: keyof RunSettings, raw: unknown, what: string, source: OptionSource): void => {
    const spec = RUN_SETTINGS.find((s) => s.key === key)!;
    (settings as unknown as Record<string, unknown>)[key] = spec.parse(raw, what);
    sources[key] = source;
  };
  if (config) {
    for (const [name, raw] of Object.entries(config.values)) {
      if (name === 'run') continue;
      const key = settingForKey(name);
      if (!key) throw unknownKey(name, config.file);
      set(key, raw, `${name}\` in \`${config.file}`, `config ${config.file}`);
    }
  }
  for (const spec of RUN_SETTINGS) {
    const name = settingEnv(spec.key);
    const raw = env[name];
    if (raw !== undefined && raw !== '') set(spec.key, raw, name, `env ${name}`);
  }
  for (const spec of RUN_SETTINGS) {
    const raw = flags[spec.key];
    if (raw !== undefined) set(spec.key, raw, settingFlag(spec.key), 'flag');
  }
  if (settings.every !== undefined && settings.every < 1000) {
    const from = sources.every === 'flag' ? '`--every`' : `\`every\` (${sources.every})`;
    throw new UsageError(
      `Expected ${from} to be at least 1s, got \`${formatDurationSpec(settings.every)}\`.`,
      {
        hint: 'Example: --every 10m',
      },
    );
  }
  return { settings, sources, configFile: config?.file };
}

/** The `--print-config` table: each setting, its value and where it came from. */
export function describeRunSettings(
  resolved: ResolvedRunSettings,
): Array<{ setting: string; value: string; from: string }> {
  return RUN_SETTINGS.map((spec) => ({
    setting: settingName(spec.key),
    value: (spec.show as (v: unknown) => string)(resolved.settings[spec.key]),
    from: resolved.sources[spec.key],
  }));
}
