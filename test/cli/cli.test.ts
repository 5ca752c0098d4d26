import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FileEntry, Manifest } from '../../src/store/index.js';
import { corruptByte, seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { ckptJson, runCkpt } from '../helpers/cli.js';
import { deadPid } from '../helpers/proc.js';
import { CLI_BIN, requireBuild } from '../helpers/repo.js';
import { chunkSpot } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
beforeAll(requireBuild);

const V1 = seededBytes(1, 100_000);
const V2 = seededBytes(2, 100_000);

/** A working directory with two commits in ./.ckpt: #1 (step 100) and #2 (step 200). */
function twoCommits(): string {
  const cwd = tempDir();
  writeFileDeep(join(cwd, 'data.bin'), V1);
  writeFileDeep(join(cwd, 'params.json'), '{"lr":0.01}\n');
  writeFileDeep(join(cwd, 'out/log.txt'), 'epoch 1\n'.repeat(1000));
  const first = runCkpt(
    ['commit', '--step', '100', '--meta', 'lr=0.01', '--meta', 'note=a=b', 'data.bin', 'params.json', 'out'],
    { cwd },
  );
  expect(first, first.stderr).toMatchObject({
    code: 0,
    stdout: expect.stringMatching(/^Committed #1 \(step 100\)/),
  });
  writeFileDeep(join(cwd, 'data.bin'), V2);
  writeFileDeep(join(cwd, 'new.txt'), 'new\n');
  rmSync(join(cwd, 'params.json'));
  const second = ckptJson<{ seq: number; step: number }>(
    ['commit', '--step', '200', 'data.bin', 'new.txt', 'out'],
    { cwd },
  );
  expect(second).toMatchObject({ seq: 2, step: 200 });
  return cwd;
}

/** Where the first chunk of data.bin in checkpoint `seq` is stored (its pack and offset). */
function dataChunk(cwd: string, seq: number): { path: string; at: number; length: number } {
  const m = ckptJson<Manifest>(['show', String(seq)], { cwd });
  const entry = m.entries.find((e): e is FileEntry => e.type === 'file' && e.path === 'data.bin')!;
  return chunkSpot(join(cwd, '.ckpt'), entry.chunks[0]!);
}

describe('ckpt CLI', () => {
  it('commit, then ls, show and their --json forms', () => {
    const cwd = twoCommits();
    const ls = runCkpt(['ls'], { cwd });
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^ID\s+STEP\s+AGE/);
    expect(ls.stdout).toMatch(/#1\s+100\s.*\bok$/m);
    expect(ls.stdout).toMatch(/#2\s+200\s.*\bok$/m);

    const list = ckptJson<{ store: string; checkpoints: Array<Record<string, unknown>> }>(['ls'], { cwd });
    expect(list.store).toBe(join(cwd, '.ckpt'));
    expect(list.checkpoints).toMatchObject([
      { seq: 1, step: 100, ok: true, meta: { lr: '0.01', note: 'a=b' }, kind: '3 files' },
      { seq: 2, step: 200, ok: true, meta: {}, writer: { pid: expect.any(Number), host: hostname() } },
    ]);

    const show = runCkpt(['show', '1'], { cwd });
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('Checkpoint #1 — step 100');
    expect(show.stdout).toContain('Meta: {"lr":"0.01","note":"a=b"}');
    expect(show.stdout).toMatch(/^file\s+data\.bin\s+97\.\d+ KiB\s+1\s+[0-9a-f]{16}$/m);
    const latest = ckptJson<Manifest>(['show', 'latest'], { cwd });
    expect(latest.seq).toBe(2);
    expect(latest.entries.map((e) => (e.type === 'blob' ? e.key : e.path))).toEqual([
      'data.bin',
      'new.txt',
      'out',
      'out/log.txt',
    ]);
  });

  it('verify exits 0 on a sound store and 3 with --deep after a chunk is corrupted', () => {
    const cwd = twoCommits();
    expect(runCkpt(['verify'], { cwd })).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('2 of 2 checkpoints OK'),
    });
    corruptByte(dataChunk(cwd, 2).path, dataChunk(cwd, 2).at + 1234);
    expect(runCkpt(['verify'], { cwd }).code).toBe(0); // sizes still match
    const deep = runCkpt(['verify', '--deep'], { cwd });
    expect(deep.code).toBe(3);
    expect(deep.stdout).toMatch(/1 of 2 checkpoints OK \(every chunk re-hashed\)/);
    expect(deep.stdout).toMatch(/#2: DAMAGED — Chunk [0-9a-f]{64} is corrupt/);
    const json = runCkpt(['verify', '--deep', '--json'], { cwd });
    expect(json.code).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({
      damaged: true,
      checkpoints: [{ ok: true }, { ok: false }],
    });
  });

  it('restore writes identical bytes, and latest falls back past a corrupted checkpoint', () => {
    const cwd = twoCommits();
    const ok = runCkpt(['restore', 'latest', '--to', 'r1'], { cwd });
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Restored #2 \(step 200\)/) });
    expect(readFileSync(join(cwd, 'r1/data.bin')).equals(V2)).toBe(true);
    expect(readFileSync(join(cwd, 'r1/out/log.txt'), 'utf8')).toBe('epoch 1\n'.repeat(1000));
    expect(readdirSync(join(cwd, 'r1')).sort()).toEqual(['data.bin', 'new.txt', 'out']);

    corruptByte(dataChunk(cwd, 2).path, dataChunk(cwd, 2).at + 99_999);
    const fallback = runCkpt(['restore', 'latest', '--to', 'r2'], { cwd });
    expect(fallback.code).toBe(0);
    expect(fallback.stderr).toMatch(/^Skipped #2: Chunk [0-9a-f]{64} is corrupt/m);
    expect(fallback.stdout).toMatch(/^Restored #1 \(step 100\)/);
    expect(readFileSync(join(cwd, 'r2/data.bin')).equals(V1)).toBe(true);
    expect(readdirSync(join(cwd, 'r2')).sort()).toEqual(['data.bin', 'out', 'params.json']);

    const explicit = runCkpt(['restore', '2', '--to', 'r3'], { cwd });
    expect(explicit.code).toBe(1);
    expect(explicit.stderr).toMatch(/is corrupt/);
  });

  it('diff lists added, removed and changed entries', () => {
    const cwd = twoCommits();
    const diff = runCkpt(['diff', '1', '2'], { cwd });
    expect(diff.code).toBe(0);
    expect(diff.stdout.split('\n')).toEqual(
      expect.arrayContaining(['  + new.txt', '  - params.json', '  ~ data.bin', '  2 unchanged']),
    );
    expect(ckptJson(['diff', '1', 'latest'], { cwd })).toMatchObject({
      from: 1,
      to: 2,
      added: ['new.txt'],
      removed: ['params.json'],
      changed: ['data.bin'],
      unchanged: 2,
      newBytes: 100_004,
    });
  });

  it('prune --dry-run changes nothing; prune removes; gc frees leftovers', () => {
    const cwd = twoCommits();
    const store = join(cwd, '.ckpt');
    const dry = runCkpt(['prune', '--keep', '1', '--dry-run'], { cwd });
    expect(dry).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Would remove #1 \(not among the newest 1\)/),
    });
    expect(readdirSync(join(store, 'manifests'))).toHaveLength(2);
    const prune = runCkpt(['prune', '--keep', '1'], { cwd });
    expect(prune).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Removed #1 .*\nKeeping #2\. Freed \d+ packs or chunk files\./),
    });
    expect(ckptJson<{ checkpoints: unknown[] }>(['ls'], { cwd }).checkpoints).toMatchObject([{ seq: 2 }]);

    const stray = join(store, 'chunks', 'ab', `ab${'0'.repeat(62)}`);
    writeFileDeep(stray, 'orphan');
    const tmp = join(store, `.lease.json.${deadPid()}.0badf00d.tmp`);
    writeFileSync(tmp, 'x');
    expect(ckptJson(['gc', '--dry-run'], { cwd })).toMatchObject({
      dryRun: true,
      chunks: 1,
      tmpFiles: 1,
      bytes: 7,
    });
    expect(existsSync(stray) && existsSync(tmp)).toBe(true);
    expect(runCkpt(['gc'], { cwd })).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Freed 7 B: 1 unreferenced chunk files or packs, 1 temp files/),
    });
    expect(existsSync(stray) || existsSync(tmp)).toBe(false);
    expect(runCkpt(['verify', '--deep'], { cwd }).code).toBe(0);
    expect(runCkpt(['restore', 'latest', '--to', 'r'], { cwd }).code).toBe(0);
    expect(readFileSync(join(cwd, 'r/data.bin')).equals(V2)).toBe(true);
  });

  it('why names the checkpoint the next start resumes from and why newer ones are skipped', () => {
    const cwd = twoCommits();
    expect(runCkpt(['why'], { cwd }).stdout).toMatch(
      /resumes from #2 \(step 200,[\s\S]*No newer checkpoint was skipped/,
    );
    rmSync(dataChunk(cwd, 2).path);
    const why = runCkpt(['why'], { cwd });
    expect(why.code).toBe(0);
    expect(why.stdout).toMatch(/resumes from #1 \(step 100/);
    expect(why.stdout).toMatch(/skipped #2: pack [0-9a-f]{32} of chunk [0-9a-f]{64} is missing/);
    expect(ckptJson(['why'], { cwd })).toMatchObject({
      resumeFrom: { seq: 1, step: 100 },
      skipped: [{ seq: 2 }],
    });
  });

  it('unlock removes a dead holder, refuses a live one without --force', () => {
    const cwd = twoCommits();
    const lease = join(cwd, '.ckpt', 'lease.json');
    expect(runCkpt(['unlock'], { cwd }).stdout).toMatch(/not locked/);
    const record = {
      host: hostname(),
      pid: deadPid(),
      token: 'a'.repeat(24),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(lease, JSON.stringify(record));
    expect(runCkpt(['unlock'], { cwd })).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`pid ${record.pid}`),
    });
    expect(existsSync(lease)).toBe(false);

    writeFileSync(lease, JSON.stringify({ ...record, pid: process.pid }));
    const live = runCkpt(['unlock'], { cwd });
    expect(live.code).toBe(2);
    expect(live.stderr).toMatch(new RegExp(`pid ${process.pid} on .*still running`));
    expect(existsSync(lease)).toBe(true);
    expect(runCkpt(['commit', '--step', '3', 'data.bin'], { cwd }).code).toBe(1); // locked
    expect(runCkpt(['unlock', '--force'], { cwd }).code).toBe(0);
    expect(existsSync(lease)).toBe(false);
    expect(runCkpt(['commit', '--step', '3', 'data.bin'], { cwd }).code).toBe(0);
  });

  it('commit of a large file changed in one place writes about that place, and exits', () => {
    const cwd = tempDir();
    const data = seededBytes(3, 64 << 20);
    writeFileSync(join(cwd, 'big.bin'), data);
    expect(runCkpt(['commit', '--step', '1', 'big.bin'], { cwd }).code).toBe(0);
    seededBytes(4, 100_000).copy(data, 40 << 20);
    writeFileSync(join(cwd, 'big.bin'), data);
    // Few chunks are hashed, so a hashing worker may never be asked: it must not keep ckpt alive.
    const again = runCkpt(['commit', '--step', '2', '--json', 'big.bin'], { cwd });
    expect(again.code, again.stderr || 'timed out (still running)').toBe(0);
    const { stats } = JSON.parse(again.stdout) as { stats: { newChunks: number } };
    expect(stats.newChunks).toBeLessThanOrEqual(2);
  });

  it('run --json ends with one JSON outcome: how it ended, the exit, the program, the last checkpoint', () => {
    const cwd = tempDir();
    // The outcome is the last line of stdout; the program's own output comes before it.
    const outcomeOf = (stdout: string) => JSON.parse(stdout.trimEnd().split('\n').at(-1)!);
    const commit = `"${process.execPath}" "${CLI_BIN}" commit --step 7 a.txt`;
    const done = runCkpt(['run', '--json', '--', 'sh', '-c', `echo x > a.txt && ${commit}`], { cwd });
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^Committed #1/);
    expect(outcomeOf(done.stdout)).toMatchObject({
      outcome: 'finished',
      exitCode: 0,
      signal: null,
      program: { code: 0, signal: null },
      restarts: 0,
      lastCheckpoint: { seq: 1, step: 7 },
    });
    const failed = runCkpt(['run', '--json', '--max-restarts', '0', '--', 'sh', '-c', 'exit 3'], { cwd });
    expect(failed.code).toBe(3);
    expect(outcomeOf(failed.stdout)).toMatchObject({ outcome: 'failed', exitCode: 3, program: { code: 3 } });
    const missing = runCkpt(['run', '--json', '--', './no-such-program'], { cwd });
    expect(missing.code).toBe(127);
    expect(outcomeOf(missing.stdout)).toMatchObject({ outcome: 'cannot-start', exitCode: 127 });
  });
});
