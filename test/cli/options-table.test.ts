/**
 * The one table of `ckpt run` settings: every row yields a flag, a config key, a `CKPT_*`
 * variable, a `--print-config` row and a `ckpt sbatch` pass-through, all consistent.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSbatchArgs } from '../../src/cli/commands/sbatch.js';
import { main } from '../../src/cli/main.js';
import { describeRunSettings, resolveRunSettings } from '../../src/cli/run-config.js';
import {
  RUN_SETTINGS,
  type RunSettings,
  SBATCH_PASS_THROUGH,
  settingEnv,
  settingFlag,
  settingName,
} from '../../src/cli/run-settings.js';
import { cleanEnv, runCkpt } from '../helpers/cli.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
beforeAll(requireBuild);

/** A valid raw value for each setting (not its default). */
const SAMPLE: Record<keyof RunSettings, string> = {
  every: '10m',
  signal: 'USR1',
  capture: 'out/*.chk',
  grace: '20s',
  killGrace: '5s',
  maxRestarts: '7',
  backoff: '3s',
  maxBackoff: '1m',
  settle: '4s',
  keep: '5',
  compress: 'off',
  restoreDir: '/tmp/restore-here',
  check: 'true',
  stepFrom: 'json:step',
  maxRequeues: '9',
  warningSignal: 'SIGUSR1',
};

async function runHelp(): Promise<string> {
  const lines: string[] = [];
  await main(['run', '--help'], { out: (t) => lines.push(t), err: (t) => lines.push(t) });
  return lines.join('\n');
}

describe('the table of ckpt run settings', () => {
  it('has a sample for every row and no row twice', () => {
    const keys = RUN_SETTINGS.map((s) => s.key);
    expect(new Set(keys).size).toBe(keys.length);
    expect([...keys].sort()).toEqual(Object.keys(SAMPLE).sort());
  });

  it.each(RUN_SETTINGS.map((s) => [s.key, s] as const))(
    '%s: flag, env, config key, --print-config row and sbatch pass-through agree',
    async (key) => {
      const name = settingName(key);
      expect(settingFlag(key)).toBe(`--${name}`);
      expect(settingEnv(key)).toBe(`CKPT_${name.replace(/-/g, '_').toUpperCase()}`);
      expect(await runHelp()).toContain(`${settingFlag(key)} `);
      expect(SBATCH_PASS_THROUGH).toContain(settingFlag(key));
      expect(parseSbatchArgs([settingFlag(key), SAMPLE[key], '--', 'true']).runArgs).toEqual([
        settingFlag(key),
        SAMPLE[key],
      ]);

      const fromEnv = resolveRunSettings({}, { [settingEnv(key)]: SAMPLE[key] }, undefined);
      expect(fromEnv.sources[key]).toBe(`env ${settingEnv(key)}`);
      const fromConfig = resolveRunSettings({}, {}, { file: 'ckpt.toml', values: { [name]: SAMPLE[key] } });
      expect(fromConfig.sources[key]).toBe('config ckpt.toml');
      const camel = resolveRunSettings({}, {}, { file: 'ckpt.toml', values: { [key]: SAMPLE[key] } });
      expect(camel.settings[key]).toEqual(fromConfig.settings[key]);
      const fromFlag = resolveRunSettings({ [key]: SAMPLE[key] }, {}, undefined);
      expect(fromFlag.sources[key]).toBe('flag');
      expect(fromFlag.settings[key]).toEqual(fromEnv.settings[key]);
      expect(fromFlag.settings[key]).not.toEqual(resolveRunSettings({}, {}, undefined).settings[key]);

      const row = describeRunSettings(fromEnv).find((r) => r.setting === name);
      expect(row?.from).toBe(`env ${settingEnv(key)}`);
    },
  );

  it('docs/cli.md lists every setting with its flag, config key and environment variable', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'cli.md'), 'utf8');
    const rows = doc.split('\n').filter((line) => line.startsWith('| `--'));
    for (const { key } of RUN_SETTINGS) {
      const cells = rows.map((line) => line.split(' | ').slice(0, 3));
      expect(cells).toContainEqual([
        expect.stringMatching(new RegExp(`^\\| \`${settingFlag(key)}[ \`]`)),
        `\`${settingName(key)}\``,
        `\`${settingEnv(key)}\``,
      ]);
    }
  });

  it('names the setting, the source and the value in an error', () => {
    expect(() => resolveRunSettings({}, { CKPT_MAX_REQUEUES: 'lots' }, undefined)).toThrow(
      'Expected `CKPT_MAX_REQUEUES` to be an integer ≥ 0, got `lots`.',
    );
  });

  it('suggests the closest key for a misspelt config key', () => {
    expect(() =>
      resolveRunSettings({}, {}, { file: 'ckpt.toml', values: { 'warning-signl': 'USR1' } }),
    ).toThrow('Unknown setting `warning-signl` in `ckpt.toml`. Did you mean `warning-signal`?');
    expect(() => resolveRunSettings({}, {}, { file: 'ckpt.toml', values: { maxRestart: 1 } })).toThrow(
      'Did you mean `max-restarts`?',
    );
  });
});

describe('ckpt run (built CLI)', () => {
  it('--print-config shows max-requeues and warning-signal, from env CKPT_MAX_REQUEUES and the config file', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'ckpt.toml'), '[run]\nwarning-signal = "USR1"\n');
    const r = runCkpt(['run', '--print-config', '--json', '--', 'true'], {
      cwd,
      env: cleanEnv({ CKPT_MAX_REQUEUES: '7' }),
    });
    expect(r.code, r.stderr).toBe(0);
    const { settings } = JSON.parse(r.stdout) as {
      settings: Array<{ setting: string; value: string; from: string }>;
    };
    const by = Object.fromEntries(settings.map((s) => [s.setting, [s.value, s.from]]));
    expect(by['max-requeues']).toEqual(['7', 'env CKPT_MAX_REQUEUES']);
    expect(by['warning-signal']).toEqual(['SIGUSR1', `config ${join(cwd, 'ckpt.toml')}`]);

    const table = runCkpt(['run', '--print-config', '--max-requeues', '2', '--', 'true'], { cwd });
    expect(table.stdout).toMatch(/^max-requeues\s+2\s+flag$/m);
    expect(table.stdout).toMatch(/^warning-signal\s+SIGUSR1\s+config /m);
  });

  it('a misspelt config key is a usage error with "did you mean"', () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'ckpt.toml'), 'max-requeus = 3\n');
    const r = runCkpt(['run', '--', 'true'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Unknown setting `max-requeus`');
    expect(r.stderr).toContain('Did you mean `max-requeues`?');
  });
});

describe('ckpt sbatch --dry-run (built CLI)', () => {
  it('passes the settings into the script and takes the warning signal from where ckpt run will', () => {
    const cwd = tempDir();
    const store = join(cwd, 'store');
    const r = runCkpt(
      [
        '--store',
        store,
        'sbatch',
        '--time',
        '2:00:00',
        '--max-requeues',
        '5',
        '--warning-signal',
        'USR1',
        '--keep',
        '4',
        '--dry-run',
        '--',
        'true',
      ],
      { cwd },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('#SBATCH --signal=B:USR1@');
    expect(r.stdout).toContain(
      `--store ${store} run --max-requeues 5 --warning-signal USR1 --keep 4 -- true`,
    );

    const fromEnv = runCkpt(['--store', store, 'sbatch', '--dry-run', '--', 'true'], {
      cwd,
      env: cleanEnv({
        CKPT_WARNING_SIGNAL: 'USR1',
      }),
    });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toContain('#SBATCH --signal=B:USR1@');

    const bad = runCkpt(['--store', store, 'sbatch', '--max-requeues', '-1', '--dry-run', '--', 'true'], {
      cwd,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Expected `--max-requeues` to be an integer ≥ 0, got `-1`.');
  });
});
