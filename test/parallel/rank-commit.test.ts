/**
 * Multi-rank commits with real processes: N `ckpt commit --rank R --ranks N` at once make one
 * checkpoint, and every way a round can go wrong (a rank that never comes, a rank or the
 * coordinator SIGKILLed mid-round, a part of another launch, a part naming a chunk that is gone, a
 * planted link) leaves no checkpoint at all, never part of one. Restore gives each rank its part.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitRank } from '../../src/index.js';
import { readPart, roundDir } from '../../src/store/rank-parts.js';
import { type CkptChild, ckptJson, runCkpt, startCkpt, useCkptRuns } from '../helpers/cli.js';
import { seeded } from '../helpers/random.js';
import { CLI_BIN } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const { tempDir } = useCkptRuns('ckpt-ranks-');

/** A job's directory with one state file per rank (`rank-R/state.bin`), random bytes of `size`. */
function rankFiles(ranks: number, size = 200_000, seed = 1): string {
  const dir = tempDir();
  const random = seeded(seed);
  for (let r = 0; r < ranks; r++) {
    mkdirSync(join(dir, `rank-${r}`));
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = Math.floor(random() * 256);
    writeFileSync(join(dir, `rank-${r}`, 'state.bin'), bytes);
  }
  return dir;
}

/** Starts rank `rank`'s `ckpt commit` of its directory's state.bin. */
function startRank(dir: string, rank: number, ranks: number, extra: string[] = []): CkptChild {
  return startCkpt(
    [
      '--store',
      join(dir, 'store'),
      'commit',
      '--step',
      '7',
      '--rank',
      String(rank),
      '--ranks',
      String(ranks),
      ...extra,
      'state.bin',
    ],
    { cwd: join(dir, `rank-${rank}`) },
  );
}

const seqs = (dir: string) =>
  existsSync(join(dir, 'store', 'manifests'))
    ? readdirSync(join(dir, 'store', 'manifests')).filter((n) => n.endsWith('.json'))
    : [];

describe('commitRank (the library form)', () => {
  it('joins the parts of ranks in one process into one checkpoint, the rank and count given or from the environment', async () => {
    const dir = rankFiles(2);
    const store = join(dir, 'store');
    const [zero, one] = await Promise.all(
      [0, 1].map((rank) =>
        commitRank({
          store,
          cwd: join(dir, `rank-${rank}`),
          paths: ['state.bin'],
          step: 3,
          rank,
          ranks: 2,
          session: 'lib',
        }),
      ),
    );
    expect(zero!.seq).toBe(1);
    expect(one!.seq).toBe(1);
    expect(zero!.manifest?.ranks).toBe(2);
    const env = { ...process.env, OMPI_COMM_WORLD_RANK: '0', OMPI_COMM_WORLD_SIZE: '1' };
    const saved = process.env;
    process.env = env;
    try {
      const alone = await commitRank({
        store,
        cwd: join(dir, 'rank-0'),
        paths: ['state.bin'],
        step: 4,
        session: 'lib',
      });
      expect(alone.manifest?.ranks).toBe(1);
    } finally {
      process.env = saved;
    }
  });
});

describe('ckpt commit --rank R --ranks N', () => {
  it('makes one checkpoint of every rank’s part; restore gives each rank its own files', async () => {
    const dir = rankFiles(4);
    const ranks = [3, 1, 0, 2].map((r) => startRank(dir, r, 4, ['--session', 'launch-1']));
    const ends = await Promise.all(ranks.map((r) => r.exited));
    for (const end of ends) expect(end.code, end.stderr).toBe(0);
    for (const end of ends) expect(end.stdout).toMatch(/^Committed #1 \(step 7\), rank \d of 4/);
    expect(seqs(dir)).toHaveLength(1);
    const store = join(dir, 'store');
    const ls = runCkpt(['--store', store, 'ls'], { cwd: dir });
    expect(ls.stdout).toMatch(/#1 +7 .* 4 files, 4 ranks +ok/);
    for (let r = 0; r < 4; r++) {
      const to = join(dir, `restored-${r}`);
      const restored = runCkpt(
        ['--store', store, 'restore', 'latest', '--to', to, '--rank', String(r), '--ranks', '4'],
        {
          cwd: dir,
        },
      );
      expect(restored.code, restored.stderr).toBe(0);
      expect(readdirSync(to)).toEqual(['state.bin']);
      expect(
        readFileSync(join(to, 'state.bin')).equals(readFileSync(join(dir, `rank-${r}`, 'state.bin'))),
      ).toBe(true);
    }
    // Another rank count is refused with the fix; so is every rank's state.bin into one directory.
    const other = runCkpt(
      ['--store', store, 'restore', '1', '--to', join(dir, 'x'), '--rank', '0', '--ranks', '2'],
      {
        cwd: dir,
      },
    );
    expect(other.code).toBe(2);
    expect(other.stderr).toContain(
      'Checkpoint #1 was committed by 4 ranks, and this restore is for rank 0 of 2',
    );
    const all = runCkpt(['--store', store, 'restore', '1', '--to', join(dir, 'y')], { cwd: dir });
    expect(all.code).toBe(2);
    expect(all.stderr).toContain('holds `state.bin` of rank 0 and of rank 1');
    expect(existsSync(join(dir, 'y', 'state.bin'))).toBe(false);
    // verify checks the joined checkpoint; the sealed round keeps only its mark, which gc leaves
    // for 10 minutes (a rank may still be about to read it).
    expect(runCkpt(['--store', store, 'verify'], { cwd: dir }).code).toBe(0);
    const gc = ckptJson<{ rounds: number }>(['--store', store, 'gc'], { cwd: dir });
    expect(gc.rounds).toBe(0);
    const [session] = readdirSync(join(store, 'staging'));
    expect(readdirSync(join(store, 'staging', session!, '7'))).toEqual(['sealed.json']);
  });

  it('commits nothing when a rank never comes: every rank that came says which one is missing', async () => {
    const dir = rankFiles(3);
    const came = [0, 2].map((r) => startRank(dir, r, 3, ['--session', 's', '--timeout', '2s']));
    const [zero, two] = await Promise.all(came.map((r) => r.exited));
    expect(zero!.code).toBe(1);
    expect(zero!.stderr).toContain(
      'Step 7: rank 1 of 3 wrote no part within 2 s, so no checkpoint was committed.',
    );
    expect(two!.code).toBe(1);
    expect(two!.stderr).toContain('Step 7: rank 0 committed nothing. Step 7: rank 1 of 3 wrote no part');
    expect(seqs(dir)).toEqual([]);
    // The round has its verdict: the same step of the same launch is not tried again.
    const again = await startRank(dir, 0, 3, ['--session', 's', '--timeout', '2s']).exited;
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(
      'Step 7 of this launch was tried and aborted (Step 7: rank 1 of 3 wrote no part',
    );
    // The aborted round's chunks are garbage once it has ended: gc frees them (the round's mark
    // stays for 10 minutes).
    const gc = ckptJson<{ rounds: number; chunks: number }>(['--store', join(dir, 'store'), 'gc'], {
      cwd: dir,
    });
    expect(gc.rounds).toBe(0);
    expect(gc.chunks).toBeGreaterThan(0);
  });

  it('commits nothing when a rank or the coordinator is SIGKILLed mid-round, and the next launch commits', async () => {
    const dir = rankFiles(3, 8_000_000);
    const random = seeded(5);
    for (let round = 0; round < 6; round++) {
      const victim = round % 3;
      const ranks = [0, 1, 2].map((r) =>
        startRank(dir, r, 3, ['--session', `killed-${round}`, '--timeout', '1s']),
      );
      await new Promise((r) => setTimeout(r, random() * 250));
      ranks[victim]!.child.kill('SIGKILL');
      const ends = await Promise.all(ranks.map((r) => r.exited));
      // Only a checkpoint with all three parts may exist (a rank killed after its part may still
      // have let rank 0 seal the round); never one with fewer.
      for (const name of seqs(dir)) {
        const shown = ckptJson<{ ranks: number; entries: { rank: number }[] }>(
          ['--store', join(dir, 'store'), 'show', name.replace('.json', '')],
          { cwd: dir },
        );
        expect(shown.ranks).toBe(3);
        expect(new Set(shown.entries.map((e) => e.rank))).toEqual(new Set([0, 1, 2]));
      }
      const survivors = ends.filter((_, r) => r !== victim);
      for (const end of survivors) {
        if (end.code !== 0)
          expect(end.stderr).toMatch(/committed nothing|no checkpoint was committed|did not commit/);
      }
    }
    const before = seqs(dir).length;
    const ends = await Promise.all([0, 1, 2].map((r) => startRank(dir, r, 3, ['--session', 'fresh']).exited));
    for (const end of ends) expect(end.code, end.stderr).toBe(0);
    expect(seqs(dir)).toHaveLength(before + 1);
    expect(runCkpt(['--store', join(dir, 'store'), 'verify'], { cwd: dir }).code).toBe(0);
  }, 120_000);

  it('a stop signal does not tear a commit: it finishes (rank 0 seals once the late part comes); a second one ends it', async () => {
    // As when a job stops: mpirun signals each rank's process group, its `ckpt commit` included.
    const dir = rankFiles(2);
    /** Waits until rank 0's commit of `session` has written its part: it is running then. */
    const partWritten = (session: string) =>
      waitFor(
        () => existsSync(join(roundDir(join(dir, 'store'), { session, step: 7 }), 'rank-0.json')),
        'rank 0’s part',
        {
          timeoutMs: 30_000,
        },
      );
    const zero = startRank(dir, 0, 2, ['--session', 'signalled']);
    await partWritten('signalled');
    zero.child.kill('SIGTERM');
    await sleep(1000);
    const one = await startRank(dir, 1, 2, ['--session', 'signalled']).exited;
    const sealed = await zero.exited;
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stderr).toContain('ckpt commit: SIGTERM received; finishing this commit first');
    expect(one.code, one.stderr).toBe(0);
    expect(seqs(dir)).toHaveLength(1);

    // With no second part coming, a signalled rank 0 gives up 5 s after the signal, not 10 min later.
    const alone = startRank(dir, 0, 2, ['--session', 'alone']);
    await partWritten('alone');
    const signalledAt = Date.now();
    alone.child.kill('SIGTERM');
    const gaveUp = await alone.exited;
    expect(gaveUp.code).toBe(1);
    expect(gaveUp.stderr).toContain('rank 1 of 2 wrote no part within 5 s of the stop signal');
    expect(Date.now() - signalledAt).toBeLessThan(15_000);

    // A second signal ends it at once, by that signal.
    const twice = startRank(dir, 0, 2, ['--session', 'twice']);
    await partWritten('twice');
    twice.child.kill('SIGTERM');
    await sleep(200);
    twice.child.kill('SIGTERM');
    expect((await twice.exited).signal).toBe('SIGTERM');
    expect(seqs(dir)).toHaveLength(1);
  }, 60_000);

  it('ckpt run waits for a rank commit that outlives the launcher (as under mpirun) before it ends', () => {
    // Like mpirun, the program starts each rank in a session of its own and, stopped, exits
    // without waiting: rank 1's part comes 1.5 s after the exit. The checkpoint is this run's:
    // it must be in the store when `ckpt run` returns. (The program exits once both ranks are
    // in their sessions: a child still in its group would die with the group, as mpirun's never
    // are. In a CI run one did, and nothing was committed.)
    const dir = rankFiles(2);
    const commit = (rank: number) =>
      `cd rank-${rank} && '${process.execPath}' '${CLI_BIN}' commit --step 7 --rank ${rank} --ranks 2 --session detached state.bin`;
    const detached = (rank: number, then: string) => `setsid sh -c "touch in-session-${rank}; ${then}" &`;
    const program = `${detached(0, commit(0))} ${detached(1, `sleep 1.5; ${commit(1)}`)} until [ -e in-session-0 ] && [ -e in-session-1 ]; do sleep 0.02; done; exit 0`;
    const run = runCkpt(['--store', join(dir, 'store'), 'run', '--', 'sh', '-c', program], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(seqs(dir)).toHaveLength(1);
  });

  it('never joins a part of another launch: a stale part is refused by name, and nothing is committed', async () => {
    const dir = rankFiles(2);
    const store = join(dir, 'store');
    // The old launch: rank 1 wrote its part, rank 0 never sealed (its node died).
    const stale = startRank(dir, 1, 2, ['--session', 'old', '--timeout', '1s']);
    expect((await stale.exited).code).toBe(1);
    // The new launch's rank 0 does not see it: rank 1 of this launch is missing.
    const alone = await startRank(dir, 0, 2, ['--session', 'new', '--timeout', '1s']).exited;
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('rank 1 of 2 wrote no part');
    // A stale part copied into the new launch's round is refused for what it is.
    const oldDir = roundDir(store, { session: 'old', step: 7 });
    const newDir = roundDir(store, { session: 'new2', step: 7 });
    const copied = startRank(dir, 0, 2, ['--session', 'new2', '--timeout', '20s']);
    while (!existsSync(join(newDir, 'rank-0.json'))) await new Promise((r) => setTimeout(r, 20));
    mkdirSync(newDir, { recursive: true });
    writeFileSync(join(newDir, 'rank-1.json'), readFileSync(join(oldDir, 'rank-1.json')));
    const refused = await copied.exited;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      "is not rank 1's part of this commit: it belongs to another launch (session)",
    );
    expect(seqs(dir)).toEqual([]);
    await expect(readPart(oldDir, { session: 'old', step: 7, rank: 1, ranks: 2 }, 1)).resolves.toBeDefined();
  });

  it('refuses a part naming a chunk the store no longer has', async () => {
    const dir = rankFiles(2);
    const store = join(dir, 'store');
    const one = startRank(dir, 1, 2, ['--session', 's', '--timeout', '20s']);
    const part = join(roundDir(store, { session: 's', step: 7 }), 'rank-1.json');
    while (!existsSync(part)) await new Promise((r) => setTimeout(r, 20));
    // Rank 1's chunks go (a gc from elsewhere, a damaged disk) before rank 0 joins the parts.
    for (const pack of readdirSync(join(store, 'packs'))) rmSync(join(store, 'packs', pack));
    const zero = await startRank(dir, 0, 2, ['--session', 's']).exited;
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(
      /Rank 1's part names a chunk the store cannot give back \(.*\), so no checkpoint was committed/,
    );
    expect((await one.exited).stderr).toContain('rank 0 committed nothing');
    expect(seqs(dir)).toEqual([]);
  });

  it('keeps the chunks of a round in flight through gc, and writes no part through a planted link', async () => {
    const dir = rankFiles(2);
    const store = join(dir, 'store');
    const one = startRank(dir, 1, 2, ['--session', 's', '--timeout', '30s']);
    while (!existsSync(join(roundDir(store, { session: 's', step: 7 }), 'rank-1.json')))
      await new Promise((r) => setTimeout(r, 20));
    const gc = ckptJson<{ chunks: number; rounds: number }>(['--store', store, 'gc'], { cwd: dir });
    expect(gc.chunks).toBe(0);
    expect(gc.rounds).toBe(0);
    expect((await startRank(dir, 0, 2, ['--session', 's']).exited).code).toBe(0);
    expect((await one.exited).code).toBe(0);
    const restored = runCkpt(
      ['--store', store, 'restore', '1', '--to', join(dir, 'r1'), '--rank', '1', '--ranks', '2'],
      {
        cwd: dir,
      },
    );
    expect(restored.code, restored.stderr).toBe(0);

    // `staging` planted as a link to a directory outside the store: refused, nothing written there.
    const outside = tempDir();
    rmSync(join(store, 'staging'), { recursive: true });
    symlinkSync(outside, join(store, 'staging'));
    const planted = await startRank(dir, 0, 1, ['--session', 'x']).exited;
    expect(planted.code).not.toBe(0);
    expect(planted.stderr).toContain('is a symlink, not a directory: refusing to use it');
    expect(readdirSync(outside)).toEqual([]);
  });
});
