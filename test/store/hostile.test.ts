import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpointer } from '../../src/checkpointer/index.js';
import { UnsafePathError } from '../../src/errors.js';
import { acquireLease, type ChunkRef, type Manifest, Store, sha256Hex } from '../../src/store/index.js';
import { chunkPath, JOURNAL_FILE, manifestPath } from '../../src/store/layout.js';
import { prepareRestore } from '../../src/supervisor/prepare-restore.js';
import { seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { runCkpt } from '../helpers/cli.js';
import { ckpt, fingerprint } from '../helpers/hostile.js';
import { CLI_BIN } from '../helpers/repo.js';
import {
  chunkSpot,
  corruptChunk,
  fileEntryFor,
  truncateChunk,
  writeCraftedManifest,
} from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs('ckpt-hostile-');
/** No case may hang: a FIFO or a bomb that blocks ckpt fails the case by this timeout. */
const CASE_MS = 20_000;

interface Lab {
  base: string;
  store: string;
  work: string;
  victim: string;
  victimBefore: Record<string, string>;
}

/** A store with two good checkpoints of work/ (a.bin, notes.txt), and a victim directory beside it. */
async function lab(): Promise<Lab> {
  const base = tempDir();
  const store = join(base, 'store');
  const work = join(base, 'work');
  const victim = join(base, 'victim');
  writeFileDeep(join(victim, 'notes.txt'), 'the user’s notes');
  writeFileDeep(join(victim, 'results/r1.dat'), seededBytes(7, 5000));
  writeFileDeep(join(victim, 'results/r2.dat'), seededBytes(8, 5000));
  for (const step of [1, 2]) {
    writeFileDeep(join(work, 'a.bin'), seededBytes(step, 300_000));
    writeFileDeep(join(work, 'notes.txt'), `step ${step}`);
    expect(
      (await ckpt(store, 'commit', '--step', String(step), '--cwd', work, 'a.bin', 'notes.txt')).code,
    ).toBe(0);
  }
  return { base, store, work, victim, victimBefore: fingerprint(victim) };
}

/** A test (CASE_MS at most) given a fresh {@link lab}. */
function labCase(title: string, body: (l: Lab) => Promise<void>): void {
  it(title, { timeout: CASE_MS }, async () => body(await lab()));
}

function expectVictimUnchanged(l: Lab): void {
  expect(fingerprint(l.victim)).toEqual(l.victimBefore);
}

async function manifests(l: Lab): Promise<Manifest[]> {
  const store = await Store.open(l.store);
  return Promise.all((await store.listSeqs()).map((seq) => store.readManifest(seq)));
}

function firstRef(m: Manifest, path = 'a.bin'): ChunkRef {
  const e = m.entries.find((x) => x.type === 'file' && x.path === path);
  if (e?.type !== 'file') throw new Error(`${path} not in #${m.seq}`);
  return e.chunks[0]!;
}

/** The file (a pack) that holds the first chunk of `path` in a checkpoint. */
function firstChunk(l: Lab, m: Manifest, path = 'a.bin'): string {
  return chunkSpot(l.store, firstRef(m, path)).path;
}

async function restoredStep(l: Lab): Promise<string> {
  const out = join(tempDir(), 'out');
  const r = await ckpt(l.store, 'restore', 'latest', '--to', out);
  expect(r.code, r.err).toBe(0);
  return readFileSync(join(out, 'notes.txt'), 'utf8');
}

describe('a store cannot make ckpt touch files outside it', () => {
  labCase('1a: gc never enters a symlinked shard; it removes the link, not what it points to', async (l) => {
    symlinkSync(l.victim, join(l.store, 'chunks/aa'));
    symlinkSync(join(l.victim, 'results'), join(l.store, 'chunks/ab'));
    const planted = join(l.store, 'packs', `${'e'.repeat(32)}.pack`);
    symlinkSync(join(l.victim, 'notes.txt'), planted);
    const verify = await ckpt(l.store, 'verify');
    expect(verify.code).toBe(3);
    expect(verify.out).toContain('FOREIGN');
    const gc = await ckpt(l.store, 'gc');
    expect(gc.code, gc.err).toBe(0);
    expect(gc.out).toMatch(/foreign .*chunks\/aa/);
    expect(gc.out).toMatch(/foreign .*packs\/e{32}\.pack/);
    expectVictimUnchanged(l);
    expect(existsSync(join(l.store, 'chunks/aa'))).toBe(false);
    expect(existsSync(planted)).toBe(false);
    expect(await restoredStep(l)).toBe('step 2');
  });

  labCase('1b: a commit never writes chunk data through a symlinked packs directory', async (l) => {
    const data = seededBytes(99, 100_000);
    rmSync(join(l.store, 'packs'), { recursive: true, force: true });
    symlinkSync(l.victim, join(l.store, 'packs'));
    writeFileDeep(join(l.work, 'new.bin'), data);
    const r = await ckpt(l.store, 'commit', '--step', '3', '--cwd', l.work, 'new.bin');
    expect(r.code, r.err).toBe(0);
    expectVictimUnchanged(l);
    expect(lstatSync(join(l.store, 'packs')).isDirectory()).toBe(true);
    const out = join(tempDir(), 'out');
    expect((await ckpt(l.store, 'restore', 'latest', '--to', out)).code).toBe(0);
    expect(readFileSync(join(out, 'new.bin')).equals(data)).toBe(true);
  });

  labCase('1c: a symlinked journal is never appended to; the commit succeeds with a warning', async (l) => {
    rmSync(join(l.store, JOURNAL_FILE));
    symlinkSync(join(l.victim, 'notes.txt'), join(l.store, JOURNAL_FILE));
    const r = await ckpt(l.store, 'commit', '--step', '3', '--cwd', l.work, 'notes.txt');
    expect(r.code).toBe(0);
    expect(r.err).toMatch(
      /warning: Checkpoint #3 is committed, but its journal line was not written.*symlink/,
    );
    expectVictimUnchanged(l);
    expect((await ckpt(l.store, 'status')).code).toBe(0);
    expectVictimUnchanged(l);
  });

  labCase(
    '2: set-aside never moves files named by a hostile manifest from outside the restore directory',
    async (l) => {
      const store = await Store.open(l.store);
      const evil = await fileEntryFor(l.store, '../victim/notes.txt', Buffer.from('x'));
      const seq = await writeCraftedManifest(store, [evil], { step: 3 });
      const result = await prepareRestore(store, l.work, ['**/*.txt']);
      expect(result.manifest?.seq).toBe(2);
      expect(result.skipped.find((s) => s.seq === seq)?.reason).toMatch(/unsafe path/);
      expectVictimUnchanged(l);
      // A symlinked directory in the working directory is not followed by the capture glob either.
      symlinkSync(l.victim, join(l.work, 'linked'));
      await prepareRestore(store, l.work, ['linked/**']);
      expectVictimUnchanged(l);
    },
  );

  labCase(
    '3: a `.ckpt-aside` symlink, from a checkpoint or planted, never makes set-aside delete elsewhere',
    async (l) => {
      const store = await Store.open(l.store);
      const seq = await writeCraftedManifest(
        store,
        [{ type: 'symlink', path: '.ckpt-aside', target: 'results' }],
        { step: 3 },
      );
      expect((await ckpt(l.store, 'why')).out).toMatch(new RegExp(`skipped #${seq}: .*reserved`));
      const result = await prepareRestore(store, l.work, ['*.txt']);
      expect(result.manifest?.seq).toBe(2);
      // The user (or an old archive) left such a link: ckpt refuses to use it and says how to fix it.
      symlinkSync(join(l.victim, 'results'), join(l.work, '.ckpt-aside'));
      for (let i = 0; i < 5; i++) writeFileDeep(join(l.work, 'notes.txt'), `torn ${i}`);
      await expect(prepareRestore(store, l.work, ['*.txt'])).rejects.toThrow(UnsafePathError);
      expectVictimUnchanged(l);
    },
  );
});

describe('a damaged chunk is never inherited by a new checkpoint', () => {
  for (const damage of ['bit-flipped', 'truncated'] as const) {
    labCase(`4: a ${damage} chunk is rewritten by the next commit of the same bytes`, async (l) => {
      const [, second] = await manifests(l);
      const ref = firstRef(second!);
      if (damage === 'bit-flipped') corruptChunk(l.store, ref, 1000);
      else truncateChunk(l.store, ref, 10);
      // The same bytes again, by a fresh process (nothing it remembers vouches for the file).
      const r = runCkpt(
        ['commit', '--step', '3', '--store', l.store, '--cwd', l.work, 'a.bin', 'notes.txt'],
        {
          cwd: l.work,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      const verify = await ckpt(l.store, 'verify', '--deep', '--json');
      const report = JSON.parse(verify.out) as { checkpoints: Array<{ seq: number; ok: boolean }> };
      expect(report.checkpoints.map((c) => [c.seq, c.ok])).toEqual([
        [1, true],
        [2, false], // still names the damaged copy; packs are never rewritten
        [3, true],
      ]);
      const third = (await manifests(l))[2]!;
      expect(firstRef(third).p).not.toBe(ref.p);
      expect(await restoredStep(l)).toBe('step 2');
    });
  }

  it('4b: the library save() rewrites a rotten chunk it would otherwise dedup against', {
    timeout: CASE_MS,
  }, async () => {
    const dir = join(tempDir(), 'store');
    const field = new Float64Array(200_000).map((_, i) => i);
    let ck = await openCheckpointer({ dir, signal: false });
    const first = await ck.save({ field }, { step: 1 });
    await ck.close();
    const m = await (await Store.open(dir)).readManifest(first.seq);
    const blob = m.entries.find((e) => e.type === 'blob' && e.key !== 'value');
    if (blob?.type !== 'blob') throw new Error('no array blob');
    corruptChunk(dir, blob.chunks[0]!, 10);
    ck = await openCheckpointer({ dir, signal: false });
    await ck.save({ field }, { step: 2 });
    await ck.close();
    const reader = await openCheckpointer({ dir, readOnly: true });
    const back = (await reader.restore<{ field: Float64Array }>())!;
    expect(reader.lastRestore?.seq).toBe(2);
    expect(Buffer.from(back.field.buffer).equals(Buffer.from(field.buffer))).toBe(true);
  });
});

describe('retention keeps the newest checkpoint that restores', () => {
  labCase('5: prune --keep 1 with a damaged newest checkpoint keeps the good one', async (l) => {
    writeFileDeep(join(l.work, 'notes.txt'), 'step 3');
    writeFileDeep(join(l.work, 'a.bin'), seededBytes(3, 300_000));
    await ckpt(l.store, 'commit', '--step', '3', '--cwd', l.work, 'a.bin', 'notes.txt');
    const third = (await manifests(l))[2]!;
    corruptChunk(l.store, firstRef(third), 4242); // same size: only hashing finds it
    const prune = await ckpt(l.store, 'prune', '--keep', '1', '--json');
    expect(prune.code, prune.err).toBe(0);
    const plan = JSON.parse(prune.out) as { keep: number[] };
    expect(plan.keep).toEqual([2, 3]);
    expect(await restoredStep(l)).toBe('step 2');
  });
});

describe('bounded reads', () => {
  labCase('6: a zstd bomb is refused without allocating its decompressed size', async (l) => {
    const store = await Store.open(l.store);
    const zeros = Buffer.alloc(512 << 20);
    const bomb = execFileSync('zstd', ['-1', '-c', '-q'], { input: zeros, maxBuffer: 64 << 20 });
    const claimed = Buffer.alloc(4096);
    const h = sha256Hex(claimed);
    mkdirSync(join(l.store, 'chunks', h.slice(0, 2)), { recursive: true });
    writeFileSync(chunkPath(l.store, h, true), bomb);
    const entry = await fileEntryFor(l.store, 'notes.txt', Buffer.from('placeholder'));
    const seq = await writeCraftedManifest(store, [
      { ...entry, size: 4096, hash: sha256Hex(Buffer.from(h, 'hex')), chunks: [{ h, n: 4096, z: 1 }] },
    ]);
    const before = process.memoryUsage().rss;
    const why = await ckpt(l.store, 'why');
    expect(why.out).toMatch(new RegExp(`skipped #${seq}: .*(decompress|impossible)`));
    expect(await restoredStep(l)).toBe('step 2');
    expect(process.memoryUsage().rss - before).toBeLessThan(128 << 20);
  });

  labCase(
    '10: declared sizes, duplicate paths, odd fields and deep nesting get clear errors, never a crash',
    async (l) => {
      const store = await Store.open(l.store);
      const good = await fileEntryFor(l.store, 'x.txt', Buffer.from('x'));
      const h = good.chunks[0]!.h;
      let deep: unknown = 1;
      for (let i = 0; i < 200; i++) deep = [deep];
      const cases: Array<[string, () => Promise<number>]> = [
        ['appears twice', () => writeCraftedManifest(store, [good, good])],
        [
          'mtimeMs',
          () => writeCraftedManifest(store, [{ ...good, mtimeMs: 'yesterday' as unknown as number }]),
        ],
        [
          'a chunk declares',
          () => {
            const n = 2 ** 40;
            return writeCraftedManifest(store, [{ ...good, size: n, chunks: [{ h, n }] }]);
          },
        ],
        ['nests', () => writeCraftedManifest(store, [good], { meta: { deep } as Record<string, unknown> })],
      ];
      for (const [problem, make] of cases) {
        const seq = await make();
        for (const command of [['ls'], ['why'], ['verify', '--deep'], ['show', String(seq)]]) {
          const r = await ckpt(l.store, ...command);
          expect(`${r.out}\n${r.err}`, `${problem}: ${command.join(' ')}`).toContain(problem);
        }
        expect(await restoredStep(l)).toBe('step 2');
        await store.removeManifest(seq);
      }
      // The Python reader too (it used to die of RecursionError).
      const body = `{"format":"ckpt-manifest","nested":${'['.repeat(5000)}${']'.repeat(5000)}}`;
      writeFileSync(manifestPath(l.store, 9), `${body}\nsha256:${sha256Hex(body)}\n`);
      const py = spawnSync(
        'python3',
        [join(import.meta.dirname, '../../examples/python/read_store.py'), l.store, 'ls'],
        {
          encoding: 'utf8',
        },
      );
      expect(py.status, py.stderr).toBe(0);
      expect(py.stdout).toMatch(/DAMAGED: manifest is not valid JSON: RecursionError/);
    },
  );

  labCase(
    '10b: a directory where the checkpoint has a file stops the restore with a clear message, before any change',
    async (l) => {
      const out = join(tempDir(), 'out');
      mkdirSync(join(out, 'notes.txt'), { recursive: true });
      writeFileSync(join(out, 'notes.txt/mine'), 'keep me');
      const before = fingerprint(out);
      const r = await ckpt(l.store, 'restore', 'latest', '--to', out);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/Cannot restore file `notes.txt`: .* is a directory[\s\S]*Move/);
      expect(fingerprint(out)).toEqual(before);
    },
  );
});

describe('odd files where store files belong', () => {
  labCase(
    '7: symlinks that a restore would refuse are refused at commit; a crafted one falls back',
    async (l) => {
      for (const target of ['/etc/passwd', '../victim/notes.txt']) {
        const dir = join(tempDir(), 'tree');
        writeFileDeep(join(dir, 'data.txt'), 'data');
        symlinkSync(target, join(dir, 'link'));
        const r = await ckpt(l.store, 'commit', '--step', '5', '--cwd', dir, 'data.txt', 'link');
        expect(r.code).toBe(2);
        expect(r.err).toContain(`Cannot commit the symlink \`link\` → \`${target}\``);
      }
      const store = await Store.open(l.store);
      const seq = await writeCraftedManifest(store, [{ type: 'symlink', path: 'l', target: '/etc' }]);
      expect((await ckpt(l.store, 'why')).out).toMatch(new RegExp(`skipped #${seq}: .*outside`));
      expect(await restoredStep(l)).toBe('step 2');
    },
  );

  it('8: a FIFO as a manifest, chunk, journal, lease or identity file hangs nothing', {
    timeout: 60_000,
  }, async () => {
    const l = await lab();
    const [, second] = await manifests(l);
    const places = [
      manifestPath(l.store, 2),
      firstChunk(l, second!),
      join(l.store, JOURNAL_FILE),
      join(l.store, 'lease.json'),
      join(l.store, 'ckpt-store.json'),
    ];
    for (const place of places) {
      const saved = `${place}.saved`;
      if (existsSync(place)) renameSync(place, saved);
      execFileSync('mkfifo', [place]);
      for (const command of [
        ['ls'],
        ['verify', '--deep'],
        ['why'],
        ['status'],
        ['restore', 'latest', '--to', join(tempDir(), 'o')],
      ]) {
        const r = await ckpt(l.store, ...command);
        expect(`${r.out}\n${r.err}`, `${place}: ${command[0]}`).toMatch(
          /FIFO|not a regular file|unreadable|#1|Restored|fresh|checkpoint/i,
        );
      }
      unlinkSync(place);
      if (existsSync(saved)) renameSync(saved, place);
    }
    expect(await restoredStep(l)).toBe('step 2');
  });

  labCase(
    '9: an unreadable manifest or chunk (a directory in its place) falls back; verify reports and exits 3',
    async (l) => {
      const [, second] = await manifests(l);
      const chunk = firstChunk(l, second!);
      renameSync(chunk, `${chunk}.saved`);
      mkdirSync(chunk);
      const verify = await ckpt(l.store, 'verify', '--deep');
      expect(verify.code).toBe(3);
      expect(verify.out).toMatch(/#2: DAMAGED — .*(directory|not a regular file)/);
      expect(await restoredStep(l)).toBe('step 1');
      rmSync(chunk, { recursive: true });
      renameSync(`${chunk}.saved`, chunk);
      renameSync(manifestPath(l.store, 2), `${manifestPath(l.store, 2)}.saved`);
      mkdirSync(manifestPath(l.store, 2));
      expect((await ckpt(l.store, 'verify')).code).toBe(3);
      expect(await restoredStep(l)).toBe('step 1');
      // A manifest of a newer format: verify finishes with its report (not a gc error).
      rmSync(manifestPath(l.store, 2), { recursive: true });
      await writeCraftedManifest(await Store.open(l.store), [], { version: 9 });
      const newer = await ckpt(l.store, 'verify');
      expect(newer.code).toBe(3);
      expect(newer.out).toMatch(/newer|version 9/);
    },
  );

  labCase(
    '11: a commit whose journal line cannot be written (full journal, a directory) still succeeds',
    async (l) => {
      rmSync(join(l.store, JOURNAL_FILE));
      mkdirSync(join(l.store, JOURNAL_FILE));
      const r = await ckpt(l.store, 'commit', '--step', '3', '--cwd', l.work, 'notes.txt', '--json');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).seq).toBe(3);
      expect(r.err).toMatch(/warning: Checkpoint #3 is committed/);
    },
  );
});

describe('readers and a concurrent prune', () => {
  it('12: ls, why and restore never fail because a prune removed what they listed', {
    timeout: 60_000,
  }, async () => {
    const l = await lab();
    // A real second process commits and prunes to one checkpoint as fast as it can.
    const script = `
      for i in $(seq 3 40); do
        printf 'step %s' "$i" > "${l.work}/notes.txt"
        "${process.execPath}" "${CLI_BIN}" commit --store "${l.store}" --cwd "${l.work}" --step "$i" --keep 1 notes.txt a.bin >/dev/null || exit 1
      done`;
    const writer = spawn('bash', ['-c', script], { stdio: 'ignore' });
    const done = new Promise<number | null>((resolve) => writer.on('exit', resolve));
    let finished = false;
    void done.then(() => {
      finished = true;
    });
    let reads = 0;
    while (!finished) {
      for (const command of [['ls'], ['why'], ['restore', 'latest', '--to', join(tempDir(), 'o')]]) {
        const r = await ckpt(l.store, ...command);
        expect(r.code, `${command[0]}: ${r.err}`).toBe(0);
        expect(`${r.out}${r.err}`).not.toMatch(/does not exist|DAMAGED|skipped #|Skipped/);
        reads++;
      }
    }
    expect(await done).toBe(0);
    expect(reads).toBeGreaterThan(10);
    expect(await restoredStep(l)).toBe('step 40');
  });
});

describe('journal damage', () => {
  labCase(
    '14: bit flips and random bytes are damage, not torn lines; a checksummed `null` is harmless to status',
    async (l) => {
      const journal = join(l.store, JOURNAL_FILE);
      const pristine = readFileSync(journal);
      const lineStarts = [
        0,
        ...[...pristine.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1),
      ].filter((i) => i < pristine.length);
      let flips = 0;
      for (let k = 0; k < 20; k++) {
        const line = lineStarts[k % lineStarts.length]!;
        const next = lineStarts.find((s) => s > line) ?? pristine.length;
        const at = line + ((k * 7919) % (next - line - 1));
        const bytes = Buffer.from(pristine);
        bytes[at] = bytes[at]! ^ (1 << (k % 7));
        writeFileSync(journal, bytes);
        const r = await ckpt(l.store, 'verify');
        expect(r.code, `flip at ${at}: ${r.out}`).toBe(3);
        flips++;
      }
      expect(flips).toBe(20);
      writeFileSync(journal, seededBytes(5, 4000));
      expect((await ckpt(l.store, 'verify')).code).toBe(3);
      const json = 'null';
      writeFileSync(journal, `${sha256Hex(json).slice(0, 16)} ${json}\n`);
      expect((await ckpt(l.store, 'status')).code).toBe(0);
      expect((await ckpt(l.store, 'verify')).code).toBe(3);
    },
  );
});

describe('low: names, locked stores, mode bits', () => {
  labCase('15a: a file name that is not UTF-8 gets a clear refusal naming its directory', async (l) => {
    const dir = join(tempDir(), 'tree');
    mkdirSync(dir);
    const made = spawnSync('python3', ['-c', `open(b"${dir}/bad\\xff.txt", "wb").write(b"x")`]);
    expect(made.status).toBe(0);
    const r = await ckpt(l.store, 'commit', '--step', '3', '--cwd', join(dir, '..'), 'tree');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not valid UTF-8 \(bytes 626164ff2e747874\)[\s\S]*Rename/);
  });

  it('15b: the library restores from a store another process holds, when opened read-only', {
    timeout: CASE_MS,
  }, async () => {
    const dir = join(tempDir(), 'store');
    const ck = await openCheckpointer({ dir, signal: false });
    await ck.save({ n: 42 }, { step: 1 });
    await ck.close();
    const holder = await acquireLease(dir);
    try {
      const reader = await openCheckpointer({ dir, readOnly: true });
      expect(await reader.restore()).toEqual({ n: 42 });
      await expect(reader.save({ n: 43 }, { step: 2 })).rejects.toThrow(/read-only/);
      await reader.close();
    } finally {
      await holder.release();
    }
  });

  labCase('15c: the sticky bit is restored; set-uid and set-gid never are', async (l) => {
    const dir = join(tempDir(), 'tree');
    writeFileDeep(join(dir, 'tool'), '#!/bin/sh\n');
    chmodSync(join(dir, 'tool'), 0o6755);
    mkdirSync(join(dir, 'shared'));
    chmodSync(join(dir, 'shared'), 0o1777);
    expect((await ckpt(l.store, 'commit', '--step', '3', '--cwd', dir, 'tool', 'shared')).code).toBe(0);
    const out = join(tempDir(), 'out');
    expect((await ckpt(l.store, 'restore', 'latest', '--to', out)).code).toBe(0);
    expect(statSync(join(out, 'tool')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(out, 'shared')).mode & 0o1000).toBe(0o1000);
  });
});

describe('why agrees with restore', () => {
  labCase(
    '13: a bit flip in the newest checkpoint: why names the older one, and restore uses it',
    async (l) => {
      const [, second] = await manifests(l);
      corruptChunk(l.store, firstRef(second!), 77);
      const why = await ckpt(l.store, 'why', '--json');
      expect(JSON.parse(why.out).resumeFrom.seq).toBe(1);
      expect(await restoredStep(l)).toBe('step 1');
      expect((await ckpt(l.store, 'ls')).out).toMatch(/#2 .* ok/); // ls is the cheap check: sizes only
      expect((await ckpt(l.store, 'ls', '--deep')).out).toMatch(/#2 .*DAMAGED: Chunk \S+ is corrupt/);
      expect((await ckpt(l.store, 'verify', '--deep')).code).toBe(3);
      // gc --deep marks the pack (its other chunks are good): the next save reads before reusing.
      expect((await ckpt(l.store, 'gc', '--deep')).out).toMatch(/damaged pack .*kept for its other chunks/);
      expect((await ckpt(l.store, 'ls', '--deep')).out).toMatch(/#2 .*DAMAGED: Chunk \S+ is corrupt/);
      appendFileSync(join(l.store, JOURNAL_FILE), '');
      expect(readdirSync(join(l.store, 'manifests')).length).toBe(2);
    },
  );
});

describe('torn packs', () => {
  labCase('15: a pack left half-written by a killed writer is named by nothing; gc removes it', async (l) => {
    // What a writer killed mid-save leaves: a pack under its final name, cut anywhere.
    const torn = join(l.store, 'packs', `${'7'.repeat(32)}.pack`);
    writeFileSync(torn, seededBytes(15, 123_457));
    const verify = await ckpt(l.store, 'verify', '--json');
    expect(verify.code, verify.out).toBe(0);
    expect(JSON.parse(verify.out).leftovers).toMatchObject({ orphanChunks: 1 });
    expect(await restoredStep(l)).toBe('step 2');
    const gc = await ckpt(l.store, 'gc', '--json');
    expect(JSON.parse(gc.out)).toMatchObject({ chunks: 1 });
    expect(existsSync(torn)).toBe(false);
    expect(await restoredStep(l)).toBe('step 2');
  });

  labCase(
    '15b: a pack cut short after its checkpoint committed: that checkpoint is damaged, restore falls back',
    async (l) => {
      const [first, second] = await manifests(l);
      expect(firstChunk(l, second!)).not.toBe(firstChunk(l, first!));
      truncateChunk(l.store, firstRef(second!), 1000);
      const why = await ckpt(l.store, 'why');
      expect(why.out).toMatch(
        /skipped #2: pack [0-9a-f]{32} is \d+ bytes, chunk [0-9a-f]{64} needs \d+ \(truncated\)/,
      );
      expect(await restoredStep(l)).toBe('step 1');
      expect((await ckpt(l.store, 'verify')).code).toBe(3);
      // gc keeps the pack (its checkpoint still names it) and reports it.
      expect((await ckpt(l.store, 'gc')).out).toMatch(/damaged pack/);
      expect(await restoredStep(l)).toBe('step 1');
    },
  );
});
