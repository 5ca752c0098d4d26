import { constants } from 'node:os';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { parseDuration, parseStepSource } from '../supervisor/index.js';

/**
 * Parsers for `ckpt run` settings. Each takes the raw value (a flag's string, an environment
 * variable, or whatever a config file holds) and `what` names where it came from, so that every
 * error names the setting, shows the value and says what is expected. All throw {@link UsageError}.
 */
export type SettingParser<T> = (raw: unknown, what: string) => T;

const asString: SettingParser<string> = (raw, what) => {
  if (typeof raw === 'number') return String(raw);
  if (typeof raw !== 'string')
    throw new UsageError(`Expected \`${what}\` to be a string, got \`${JSON.stringify(raw)}\`.`);
  return raw;
};

/** A duration like `90s`, `10m`, `1h30m` (see docs/protocol.md), in ms. */
export const parseDurationSetting: SettingParser<number> = (raw, what) =>
  parseDuration(asString(raw, what), what);

/** An integer ≥ `min`. */
export const parseInteger =
  (min: number): SettingParser<number> =>
  (raw, what) => {
    const text = asString(raw, what);
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new UsageError(`Expected \`${what}\` to be an integer ≥ ${min}, got \`${text}\`.`);
    }
    return n;
  };

/** A catchable signal name (`USR2`, `usr2` or `SIGUSR2`). */
export const parseSignal: SettingParser<NodeJS.Signals> = (raw, what) => {
  const text = asString(raw, what).toUpperCase();
  const name = (text.startsWith('SIG') ? text : `SIG${text}`) as NodeJS.Signals;
  if (!(name in constants.signals) || name === 'SIGKILL' || name === 'SIGSTOP') {
    throw new UsageError(
      `Expected \`${what}\` to be a catchable signal name like SIGUSR2, got \`${String(raw)}\`.`,
    );
  }
  return name;
};

/** A list of globs: an array (config file), or comma-separated text. Blank entries are dropped. */
export const parseGlobs: SettingParser<string[]> = (raw, what) => {
  const list = Array.isArray(raw) ? raw : asString(raw, what).split(',');
  return list.map((g) => asString(g, what).trim()).filter((g) => g !== '');
};

/** `auto` or `off`. */
export const parseCompress: SettingParser<'auto' | 'off'> = (raw, what) => {
  const v = asString(raw, what);
  if (v !== 'auto' && v !== 'off')
    throw new UsageError(`Expected \`${what}\` to be auto or off, got \`${v}\`.`);
  return v;
};

/** A directory, made absolute. */
export const parseDir: SettingParser<string> = (raw, what) => resolve(asString(raw, what));

/** A non-empty shell command. */
export const parseCommand: SettingParser<string> = (raw, what) => {
  const v = asString(raw, what).trim();
  if (v === '') throw new UsageError(`Expected \`${what}\` to be a command, got an empty string.`);
  return v;
};

/** A `--step-from` source, checked now and kept as text (the supervisor compiles it). */
export const parseStepFrom: SettingParser<string> = (raw, what) => {
  const v = asString(raw, what);
  parseStepSource(v, what);
  return v;
};
