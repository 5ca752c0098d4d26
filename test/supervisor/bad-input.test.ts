/**
 * Bad input to `ckpt run`: every mistake gets a clear error naming the thing and a usage exit (2)
 * where it is one, and nothing is started. Also: one `ckpt run` per store, and --print-config.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../../src/supervisor/index.js';
import { ckptJson, cleanEnv, runCkpt, startCkpt, useCkptRuns } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait-for.js';

const EXIT_USAGE = 2;
const MARK = ['sh', '-c', 'touch ran'];

describe('ckpt run: bad input', () => {
  const { tempDir } = useCkptRuns('ckpt-bad-input-');

  /** Runs `ckpt --store <tmp> run ARGS` in a fresh directory. */
  function run(args: string[], env: Record<string, string> = {}, work = tempDir()) {
    const result = runCkpt(['--store', join(work, 'store'), 'run', ...args], {
      cwd: work,
      env: cleanEnv(env),
    });
    return { ...result, work, ran: existsSync(join(work, 'ran')) };
  }

  it('refuses an unknown flag with exit 2', () => {
    const r = run(['--evry', '10m', '--', ...MARK]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain("unknown option '--evry'");
    expect(r.ran).toBe(false);
  });

  it('refuses a bad duration with exit 2, naming --every and the value', () => {
    const r = run(['--every', '10 minutes', '--', ...MARK]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain('`--every`');
    expect(r.stderr).toContain('`10 minutes`');
    expect(r.ran).toBe(false);
  });

  it('refuses a bad duration in the environment, naming the variable', () => {
    const r = run(['--', ...MARK], { CKPT_GRACE: 'soon' });
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain('`CKPT_GRACE`');
    expect(r.ran).toBe(false);
  });

  it.each([[[]], [['--']], [['--every', '1m']]])(
    'refuses a missing command with exit 2 (args %j)',
    (args) => {
      const r = run(args);
      expect(r.code).toBe(EXIT_USAGE);
      expect(r.stderr).toMatch(/needs a command to run after `--`/);
    },
  );

  it('fails with a message naming the store path when the store directory cannot be created', () => {
    const work = tempDir();
    let parent: string;
    if (process.getuid?.() === 0) {
      // root ignores permissions: make mkdir fail with ENOTDIR under a regular file instead.
      parent = join(work, 'a-file');
      writeFileSync(parent, 'not a directory');
    } else {
      parent = join(work, 'read-only');
      mkdirSync(parent);
      chmodSync(parent, 0o555);
    }
    const store = join(parent, 'store');
    const r = runCkpt(['--store', store, 'run', '--', ...MARK], { cwd: work, env: cleanEnv() });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toContain(store);
    expect(r.stderr).not.toContain('internal error');
    expect(existsSync(join(work, 'ran'))).toBe(false);
  });

  it('refuses a second `ckpt run` on the same store, naming the first one’s pid, and leaves the first alone', async () => {
    const work = tempDir();
    const store = join(work, 'store');
    const waiter =
      "require('fs').writeFileSync('first-started', ''); " +
      "const t = setInterval(() => { if (require('fs').existsSync('go')) { clearInterval(t); console.log('first done'); } }, 20);";
    const first = startCkpt(['--store', store, 'run', '--', process.execPath, '-e', waiter], { cwd: work });
    await waitFor(() => existsSync(join(work, 'first-started')), 'the first job to start');

    const second = runCkpt(['--store', store, 'run', '--', ...MARK], { cwd: work, env: cleanEnv() });
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.stderr).toContain(`pid ${first.pid}`);
    expect(second.stderr).toContain('locked');
    expect(existsSync(join(work, 'ran'))).toBe(false);

    writeFileSync(join(work, 'go'), '');
    const end = await first.exited;
    expect(end.code, end.stderr).toBe(0);
    expect(end.stdout).toContain('first done');
    const status = ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work });
    expect(status.state).toBe('finished');
    expect(status.segments).toHaveLength(1);
    expect(status.segments[0]!.exit).toEqual({ code: 0, signal: null });
    expect(status.holder).toBeUndefined();
  });

  it('refuses a config file with an unknown key with exit 2, naming the key and the file', () => {
    const work = tempDir();
    const file = join(work, 'ckpt.toml');
    writeFileSync(file, 'grace = "30s"\nmax_restart = 5\n');
    const r = run(['--', ...MARK], {}, work);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain('`max_restart`');
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('max-restarts'); // the list of known settings
    expect(r.ran).toBe(false);
  });

  it('refuses a bad value in a config file with exit 2, naming the key and the file', () => {
    const work = tempDir();
    const file = join(work, 'ckpt.yaml');
    writeFileSync(file, 'run:\n  grace: soon\n');
    const r = run(['--', ...MARK], {}, work);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toContain('grace');
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain('`soon`');
    expect(r.ran).toBe(false);
  });

  it('reads settings from ckpt.yaml (under a `run:` table) too', () => {
    const work = tempDir();
    const file = join(work, 'ckpt.yaml');
    writeFileSync(file, 'run:\n  keep: 5\n  capture: [out/*.chk, "*.h5"]\n');
    const r = run(['--print-config', '--json', '--', ...MARK], {}, work);
    expect(r.code, r.stderr).toBe(0);
    const { settings } = JSON.parse(r.stdout) as {
      settings: Array<{ setting: string; value: string; from: string }>;
    };
    expect(settings.filter((s) => s.from !== 'default')).toEqual([
      { setting: 'capture', value: 'out/*.chk, *.h5', from: `config ${file}` },
      { setting: 'keep', value: '5', from: `config ${file}` },
    ]);
  });

  describe('--print-config', () => {
    function configured(extra: string[]) {
      const work = tempDir();
      const file = join(work, 'ckpt.toml');
      writeFileSync(file, 'grace = "20s"\nmax-restarts = 7\nsettle = "1s"\n');
      const r = run(
        ['--print-config', '--kill-grace', '5s', '--settle', '4s', ...extra, '--', ...MARK],
        { CKPT_GRACE: '45s', CKPT_BACKOFF: '3s' },
        work,
      );
      return { ...r, file };
    }

    it('shows each value and where it came from: flag, env, config file or default', () => {
      const r = configured(['--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.ran).toBe(false);
      const printed = JSON.parse(r.stdout) as {
        store: string;
        configFile: string;
        settings: Array<{ setting: string; value: string; from: string }>;
      };
      expect(printed.configFile).toBe(r.file);
      expect(printed.store).toBe(join(r.work, 'store'));
      const by = Object.fromEntries(printed.settings.map((s) => [s.setting, [s.value, s.from]]));
      expect(by).toMatchObject({
        grace: ['45s', 'env CKPT_GRACE'], // env beats the config file
        'kill-grace': ['5s', 'flag'],
        settle: ['4s', 'flag'], // a flag beats the config file
        'max-restarts': ['7', `config ${r.file}`],
        backoff: ['3s', 'env CKPT_BACKOFF'],
        keep: ['3', 'default'],
        signal: ['SIGUSR2', 'default'],
        every: ['never', 'default'],
      });
    });

    it('prints the same as a table', () => {
      const r = configured([]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`config file: ${r.file}`);
      expect(r.stdout).toMatch(/^SETTING\s+VALUE\s+FROM$/m);
      expect(r.stdout).toMatch(/^grace\s+45s\s+env CKPT_GRACE$/m);
      expect(r.stdout).toMatch(/^kill-grace\s+5s\s+flag$/m);
      expect(r.stdout).toMatch(new RegExp(`^max-restarts\\s+7\\s+config ${r.file}$`, 'm'));
      expect(r.stdout).toMatch(/^keep\s+3\s+default$/m);
    });
  });
});
