import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { serializeManifest } from '../../src/store/manifest.js';
import { writeFileDeep } from '../helpers/bytes.js';
import { ckptJson, cleanEnv, runCkpt } from '../helpers/cli.js';
import { requireBuild } from '../helpers/repo.js';
import { sampleManifest } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
beforeAll(requireBuild);

/** A working directory with f.txt committed once to ./.ckpt. */
function oneCommit(): string {
  const cwd = tempDir();
  writeFileDeep(join(cwd, 'f.txt'), 'hello\n');
  expect(runCkpt(['commit', '--step', '1', 'f.txt'], { cwd }).code).toBe(0);
  return cwd;
}

describe('ckpt CLI: bad input', () => {
  it('an unknown flag or command exits 2', () => {
    const cwd = oneCommit();
    const flag = runCkpt(['ls', '--bogus'], { cwd });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/unknown option '--bogus'/);
    expect(runCkpt(['frobnicate'], { cwd }).code).toBe(2);
    expect(runCkpt(['--nope', 'ls'], { cwd }).code).toBe(2);
  });

  it('prune --keep must be a positive integer (exit 2, message names --keep)', () => {
    const cwd = oneCommit();
    for (const value of ['-1', 'abc', '0', '1.5']) {
      const result = runCkpt(['prune', '--keep', value], { cwd });
      expect(result.code, value).toBe(2);
      expect(result.stderr, value).toContain(
        `Expected \`--keep\` to be a positive integer, got \`${value}\``,
      );
    }
    expect(runCkpt(['prune', '--keep-every', 'x'], { cwd }).stderr).toContain('--keep-every');
    const none = runCkpt(['prune'], { cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/needs `--keep N` and\/or `--keep-every K`/);
  });

  it('a missing store exits 2, naming the directory and the fix', () => {
    const cwd = tempDir();
    const result = runCkpt(['show', 'latest'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`No store at \`${join(cwd, '.ckpt')}\``);
    expect(result.stderr).toMatch(/Pass --store DIR or set CKPT_STORE/);
    expect(existsSync(join(cwd, '.ckpt'))).toBe(false);

    mkdirSync(join(cwd, 'plain'));
    const plain = runCkpt(['--store', 'plain', 'ls'], { cwd });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`\`${join(cwd, 'plain')}\` is not a ckpt store`);
  });

  it('show of a checkpoint that does not exist exits 1', () => {
    const cwd = oneCommit();
    const result = runCkpt(['show', '999'], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Checkpoint 999 does not exist/);
    expect(runCkpt(['show', 'latest~5'], { cwd }).code).toBe(1);
  });

  it('a manifest of a newer format version gets a clear message that mentions upgrading', () => {
    const cwd = oneCommit();
    const newer = sampleManifest({ seq: 2, version: 4, entries: [] });
    writeFileSync(join(cwd, '.ckpt', 'manifests', '0000000002.json'), serializeManifest(newer));
    const show = runCkpt(['show', '2'], { cwd });
    expect(show.code).toBe(1);
    expect(show.stderr).toMatch(/Manifest #2 has format version 4; this ckpt reads up to version 3/);
    expect(show.stderr).toMatch(/Upgrade ckpt \(npm install -g ckpt@latest\)/);
    expect(runCkpt(['ls'], { cwd }).stdout).toMatch(/#2 .*DAMAGED: Manifest #2 has format version 4/);
    // gc still removes dead writers' temp files, but collects no chunk it cannot account for.
    const gc = runCkpt(['gc'], { cwd });
    expect(gc.code).toBe(0);
    expect(gc.stderr).toMatch(/newer ckpt[\s\S]*npm install -g ckpt@latest/);
  });

  it('commit needs paths inside the working directory and a valid --step', () => {
    const cwd = tempDir();
    writeFileDeep(join(cwd, 'f.txt'), 'x');
    const none = runCkpt(['commit', '--step', '1'], { cwd });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/needs at least one PATH/);
    expect(runCkpt(['commit', 'f.txt'], { cwd }).code).toBe(2); // --step is required
    expect(runCkpt(['commit', '--step', 'abc', 'f.txt'], { cwd }).stderr).toMatch(
      /`--step` to be a non-negative number/,
    );
    expect(runCkpt(['commit', '--step', '1', '--meta', 'novalue', 'f.txt'], { cwd }).code).toBe(2);
    expect(runCkpt(['commit', '--step', '1', 'missing.txt'], { cwd }).stderr).toMatch(
      /no such file or directory/,
    );
    const outside = runCkpt(['commit', '--step', '1', '../'], { cwd });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(/is not inside/);
  });

  it('restore needs --to', () => {
    const cwd = oneCommit();
    const result = runCkpt(['restore', 'latest'], { cwd });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/needs `--to DIR`/);
  });
});

describe('ckpt CLI: choosing the store', () => {
  it('uses $CKPT_STORE, and --store wins over it', () => {
    const cwd = tempDir();
    writeFileDeep(join(cwd, 'f.txt'), 'x');
    const fromEnv = join(cwd, 'env-store');
    const fromFlag = join(cwd, 'flag-store');
    expect(
      runCkpt(['commit', '--step', '1', 'f.txt'], { cwd, env: cleanEnv({ CKPT_STORE: fromEnv }) }).code,
    ).toBe(0);
    expect(existsSync(join(fromEnv, 'ckpt-store.json'))).toBe(true);
    expect(existsSync(join(cwd, '.ckpt'))).toBe(false);

    expect(
      runCkpt(['--store', fromFlag, 'commit', '--step', '2', 'f.txt'], {
        cwd,
        env: cleanEnv({ CKPT_STORE: fromEnv }),
      }).code,
    ).toBe(0);
    expect(ckptJson(['ls'], { cwd, env: cleanEnv({ CKPT_STORE: fromEnv }) })).toMatchObject({
      store: fromEnv,
      checkpoints: [{ step: 1 }],
    });
    expect(
      ckptJson(['--store', 'flag-store', 'ls'], { cwd, env: cleanEnv({ CKPT_STORE: fromEnv }) }),
    ).toMatchObject({
      store: fromFlag,
      checkpoints: [{ step: 2 }],
    });
  });
});

describe('ckpt CLI: help', () => {
  it('--help of the program and of every command it lists exits 0 with usage', () => {
    const cwd = tempDir();
    const top = runCkpt(['--help'], { cwd });
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes: 0 ok, 1 failure, 2 usage/);
    const listed = top.stdout
      .slice(top.stdout.indexOf('Commands:'))
      .split('\n')
      .map((line) => /^ {2}([a-z]+) /.exec(line)?.[1])
      .filter((name): name is string => name !== undefined && name !== 'help');
    expect(listed).toEqual(
      expect.arrayContaining([
        'ls',
        'show',
        'verify',
        'prune',
        'gc',
        'restore',
        'commit',
        'diff',
        'why',
        'unlock',
      ]),
    );
    for (const command of listed) {
      const help = runCkpt([command, '--help'], { cwd });
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toMatch(new RegExp(`^Usage: ckpt ${command}`));
    }
    expect(runCkpt(['help', 'ls'], { cwd }).code).toBe(0);
    expect(runCkpt(['--version'], { cwd }).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
