import { DEFAULT_MAX_REQUEUES, DEFAULT_WARNING_SIGNAL } from '../slurm/index.js';
import { DEFAULT_KEEP } from '../store/index.js';
import {
  DEFAULT_BACKOFF_MS,
  DEFAULT_GRACE_MS,
  DEFAULT_KILL_GRACE_MS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MAX_RESTARTS,
  DEFAULT_SETTLE_MS,
  DEFAULT_SIGNAL,
  formatDurationSpec,
  type RunOptions,
} from '../supervisor/index.js';
import {
  parseCommand,
  parseCompress,
  parseDir,
  parseDurationSetting,
  parseGlobs,
  parseInteger,
  parseSignal,
  parseStepFrom,
  type SettingParser,
} from './setting-parsers.js';

/** Every setting of `ckpt run`: the supervisor's options plus the SLURM ones. */
export interface RunSettings extends RunOptions {
  /** SLURM: requeues for time limits before giving up. */
  maxRequeues: number;
  /** SLURM: the signal that warns of the time limit. */
  warningSignal: NodeJS.Signals;
}

/** One row of the table: everything else (flag, config key, env name) is derived from `key`. */
export interface RunSetting<K extends keyof RunSettings = keyof RunSettings> {
  key: K;
  /** The flag's value placeholder in `--help` (`<duration>`). */
  arg: string;
  /** `--help` text, without the default (added from `initial`). */
  help: string;
  initial: RunSettings[K];
  parse: SettingParser<RunSettings[K]>;
  show: (value: RunSettings[K]) => string;
  /** The flag may be given more than once (values collect into a list). */
  repeatable?: true;
}

const row = <K extends keyof RunSettings>(r: RunSetting<K>): RunSetting => r as unknown as RunSetting;
const ms = (v: number): string => formatDurationSpec(v);
const or = (text: string) => (v: string | undefined) => v ?? text;

/**
 * THE table of `ckpt run` settings, in `--print-config` order. Commander flags, `ckpt sbatch`'s
 * pass-through list, config keys, `CKPT_*` names and `--print-config` all come from it.
 */
export const RUN_SETTINGS: readonly RunSetting[] = [
  row({
    key: 'every',
    arg: '<duration>',
    help: 'send the checkpoint signal at this interval (e.g. 10m, 1h30m; at least 1s)',
    initial: undefined,
    parse: parseDurationSetting,
    show: (v) => (v === undefined ? 'never' : ms(v)),
  }),
  row({
    key: 'signal',
    arg: '<name>',
    help: 'the checkpoint signal',
    initial: DEFAULT_SIGNAL,
    parse: parseSignal,
    show: String,
  }),
  row({
    key: 'capture',
    arg: '<glob>',
    help: 'commit files matching this glob once complete (repeatable)',
    initial: [],
    parse: parseGlobs,
    show: (v) => (v.length ? v.join(', ') : 'none'),
    repeatable: true,
  }),
  row({
    key: 'grace',
    arg: '<duration>',
    help: 'how long a stop waits for the checkpoint before SIGTERM',
    initial: DEFAULT_GRACE_MS,
    parse: parseDurationSetting,
    show: ms,
  }),
  row({
    key: 'killGrace',
    arg: '<duration>',
    help: 'how long after SIGTERM before SIGKILL',
    initial: DEFAULT_KILL_GRACE_MS,
    parse: parseDurationSetting,
    show: ms,
  }),
  row({
    key: 'maxRestarts',
    arg: '<n>',
    help: 'restarts after crashes before giving up',
    initial: DEFAULT_MAX_RESTARTS,
    parse: parseInteger(0),
    show: String,
  }),
  row({
    key: 'backoff',
    arg: '<duration>',
    help: 'delay before a restart, doubled after each crash without a new checkpoint',
    initial: DEFAULT_BACKOFF_MS,
    parse: parseDurationSetting,
    show: ms,
  }),
  row({
    key: 'maxBackoff',
    arg: '<duration>',
    help: 'the longest delay before a restart',
    initial: DEFAULT_MAX_BACKOFF_MS,
    parse: parseDurationSetting,
    show: ms,
  }),
  row({
    key: 'settle',
    arg: '<duration>',
    help: 'how long a file changed in place must stay unchanged before capture (a file renamed into place is complete at once)',
    initial: DEFAULT_SETTLE_MS,
    parse: parseDurationSetting,
    show: ms,
  }),
  row({
    key: 'keep',
    arg: '<n>',
    help: 'checkpoints to keep',
    initial: DEFAULT_KEEP,
    parse: parseInteger(1),
    show: String,
  }),
  row({
    key: 'compress',
    arg: '<mode>',
    help: 'auto (zstd where it pays) or off',
    initial: 'auto',
    parse: parseCompress,
    show: String,
  }),
  row({
    key: 'restoreDir',
    arg: '<dir>',
    help: 'put restored files here instead of the working directory',
    initial: undefined,
    parse: parseDir,
    show: or('the working directory'),
  }),
  row({
    key: 'check',
    arg: '<cmd>',
    help: 'a command that vouches for a captured file (exit 0 = complete; the file is $CKPT_CHECK_FILE)',
    initial: undefined,
    parse: parseCommand,
    show: or('none'),
  }),
  row({
    key: 'stepFrom',
    arg: '<pattern>',
    help: 'the step of a captured checkpoint: a regex on file names (chk_(\\d+)) or json:FIELD',
    initial: undefined,
    parse: parseStepFrom,
    show: or('a capture counter'),
  }),
  row({
    key: 'maxRequeues',
    arg: '<n>',
    help: 'SLURM: requeues for time limits before giving up',
    initial: DEFAULT_MAX_REQUEUES,
    parse: parseInteger(0),
    show: String,
  }),
  row({
    key: 'warningSignal',
    arg: '<name>',
    help: 'SLURM: the signal that warns of the time limit',
    initial: DEFAULT_WARNING_SIGNAL,
    parse: parseSignal,
    show: String,
  }),
];

/** A setting's name as flag, config key and `--print-config` row: `maxRestarts` → `max-restarts`. */
export function settingName(key: keyof RunSettings): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A setting's flag: `--max-restarts`. */
export function settingFlag(key: keyof RunSettings): string {
  return `--${settingName(key)}`;
}

/** A setting's environment variable: `CKPT_MAX_RESTARTS`. */
export function settingEnv(key: keyof RunSettings): string {
  return `CKPT_${settingName(key).replace(/-/g, '_').toUpperCase()}`;
}

/** `ckpt run` flags that take a value but are not settings; `ckpt sbatch` passes them through too. */
export const RUN_OTHER_VALUE_FLAGS = ['--config', '--app'] as const;

/** The `ckpt run` flags (with a value) that `ckpt sbatch` takes and puts into the batch script. */
export const SBATCH_PASS_THROUGH: readonly string[] = [
  ...RUN_SETTINGS.map((s) => settingFlag(s.key)),
  ...RUN_OTHER_VALUE_FLAGS,
];
