/**
 * Capture torture: the HPC guides' own DIY loop (test/fixtures/supervisor/diy_loop.py), left as
 * users write it, under `ckpt run --capture checkpoint.pkl`, SIGKILLed at random points. One
 * program saves atomically (temp file + os.replace), one in place in several pieces. After every
 * kill every checkpoint in the store must load; in the end the result equals an uninterrupted
 * run; and for the atomic writer no restart resumes from older than the program's own last
 * complete save, so the repeated work with ckpt is at most that of the same kills without it
 * (measured below by running the same kill schedule without ckpt: the atomic writer kills itself
 * at the schedule's steps, some inside a save, so both runs die at exactly the same points).
 * CKPT_CAPTURE_KILLS sets the number of kills (200 in CI), CKPT_TEST_SEED replays a schedule.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { materializeFiles, Store } from '../../src/store/index.js';
import { cleanEnv, killLeftoverCkpts, runCkpt, startCkpt } from '../helpers/cli.js';
import { describeNeeds, PYTHON3 } from '../helpers/needs.js';
import { isAlive } from '../helpers/procfs.js';
import { seeded } from '../helpers/random.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { sleep, waitFor } from '../helpers/wait-for.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'supervisor', 'diy_loop.py');
const KILLS = Number(process.env.CKPT_CAPTURE_KILLS ?? (process.env.CI ? 200 : 30));
const SEED = Number(process.env.CKPT_TEST_SEED ?? Date.now() % 1_000_000);
const EVERY = 50;
/** Steps to the end: enough that the kills land before it (in-place segments run longer). */
const TOTAL = { atomic: 12_000, inplace: 40_000 } as const;
const tempDir = useTempDirs('ckpt-capture-torture-');

interface Segment {
  pid: number;
  from: number;
  reached: number;
  /** The program's own last complete save in this segment (or where it started). */
  saved: number;
}

function readSegments(path: string): Segment[] {
  const out: Segment[] = [];
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  for (const line of text.split('\n')) {
    const start = /^start pid=(\d+) from=(\d+)$/.exec(line);
    const step = /^step (\d+)$/.exec(line);
    const saved = /^saved (\d+)$/.exec(line);
    const current = out.at(-1);
    if (start) {
      const from = Number(start[2]);
      out.push({ pid: Number(start[1]), from, reached: from, saved: from });
    } else if (step && current) current.reached = Number(step[1]);
    else if (saved && current) current.saved = Number(saved[1]);
  }
  return out;
}

interface Schedule {
  /** Steps past the segment's start at which each kill lands. */
  offsets: number[];
}

function schedule(random: () => number): Schedule {
  return { offsets: Array.from({ length: KILLS }, () => 5 + Math.floor(random() * 2.5 * EVERY)) };
}

/**
 * Waits for a program start (a new pid), lets it run `offset` steps, SIGKILLs it. Returns false
 * when the program died by itself first (the in-place writer fails to load its own torn file).
 */
async function killAt(
  pidfile: string,
  progress: string,
  seen: Set<number>,
  offset: number,
  ended: () => boolean,
): Promise<boolean> {
  const t0 = Date.now();
  const pid = await waitFor(
    () => {
      if (ended()) throw new Error('the run ended before all kills');
      const text = existsSync(pidfile) ? readFileSync(pidfile, 'utf8') : '';
      const n = Number(text);
      return text !== '' && !seen.has(n) ? n : undefined;
    },
    'a program start',
    { timeoutMs: 60_000, everyMs: 2 },
  );
  seen.add(pid);
  // This start's own line (the previous segment's does not count): the program logs it once loaded.
  const from = await waitFor(
    () => {
      const mine = readSegments(progress).find((s) => s.pid === pid);
      return mine ? mine.from : isAlive(pid) ? undefined : -1;
    },
    'the start line',
    { timeoutMs: 10_000, everyMs: 2 },
  );
  if (from < 0) return false;
  await waitFor(
    () => (readSegments(progress).find((s) => s.pid === pid)?.reached ?? 0) >= from + offset || !isAlive(pid),
    'the kill point',
    { timeoutMs: 30_000, everyMs: 1 },
  );
  const t1 = Date.now();
  if (!isAlive(pid)) return false;
  process.kill(pid, 'SIGKILL');
  await waitFor(() => !isAlive(pid), 'the program to die', { timeoutMs: 10_000, everyMs: 2 });
  if (process.env.CKPT_TEST_TRACE) console.log(`kill: waited ${t1 - t0} ms for start+offset ${offset}`);
  return true;
}

/** Every checkpoint of the store restores and unpickles; returns how many were checked. */
async function checkAllLoad(storeDir: string, checked: Set<number>): Promise<void> {
  if (!existsSync(join(storeDir, 'ckpt-store.json'))) return;
  const store = await Store.open(storeDir);
  for (const seq of await store.listSeqs()) {
    if (checked.has(seq)) continue;
    const out = tempDir();
    try {
      await materializeFiles(store.root, await store.readManifest(seq), out);
    } catch (error) {
      if (!(await store.exists(seq))) continue; // pruned meanwhile
      throw error;
    }
    const load = spawnSync(
      'python3',
      [
        '-c',
        'import pickle,sys; s=pickle.load(open(sys.argv[1],"rb")); print(s["step"])',
        join(out, 'checkpoint.pkl'),
      ],
      {
        encoding: 'utf8',
      },
    );
    expect(
      load.status,
      `checkpoint #${seq} does not load (replay with CKPT_TEST_SEED=${SEED}; its manifest: ${JSON.stringify(await store.readManifest(seq).catch(() => null))}): ${load.stderr}`,
    ).toBe(0);
    checked.add(seq);
  }
}

function env(
  work: string,
  writer: keyof typeof TOTAL,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  return cleanEnv({
    DIY_WRITER: writer,
    DIY_TOTAL: String(TOTAL[writer]),
    DIY_EVERY: String(EVERY),
    DIY_STEP_S: '0.001',
    DIY_PROGRESS: join(work, 'progress.log'),
    DIY_PIDFILE: join(work, 'program.pid'),
    DIY_FAST: join(work, 'fast'),
    ...extra,
  });
}

function reference(writer: keyof typeof TOTAL): string {
  const work = tempDir();
  const r = spawnSync('python3', [FIXTURE], {
    cwd: work,
    env: env(work, writer, { DIY_STEP_S: '0' }),
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return /^result (\w+)$/m.exec(r.stdout)![1]!;
}

/**
 * The same kill schedule without ckpt: the program alone, started again by hand after each kill
 * (it SIGKILLs itself at the schedule's steps, so both runs are killed at exactly the same points).
 */
async function withoutCkpt(writer: keyof typeof TOTAL, plan: Schedule): Promise<number> {
  const work = tempDir();
  const envNow = env(work, writer, { DIY_KILL_OFFSETS: plan.offsets.join(',') });
  for (let i = 0; i <= plan.offsets.length + 2; i++) {
    if (i === plan.offsets.length) writeFileSync(join(work, 'fast'), '');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('python3', [FIXTURE], { cwd: work, env: envNow, stdio: 'ignore' });
      child.once('exit', (c) => resolve(c));
    });
    if (code === 0) break;
  }
  const segments = readSegments(join(work, 'progress.log'));
  expect(segments.length).toBe(plan.offsets.length + 1);
  let lost = 0;
  for (let i = 1; i < segments.length; i++) lost += segments[i - 1]!.reached - segments[i]!.from;
  return lost;
}

describeNeeds('capture torture: the guides’ DIY loop under ckpt run --capture', PYTHON3, () => {
  beforeAll(requireBuild);
  afterEach(killLeftoverCkpts);

  for (const writer of ['atomic', 'inplace'] as const) {
    it(`${writer} writer: ${KILLS} SIGKILLs, every checkpoint loads, the result is the uninterrupted one`, async () => {
      const seed = `(replay with CKPT_TEST_SEED=${SEED})`;
      const plan = schedule(seeded(SEED + (writer === 'atomic' ? 0 : 1)));
      const expected = reference(writer);
      const work = tempDir();
      const store = join(tempDir(), 'store');
      const args = [
        '--store',
        store,
        'run',
        '--capture',
        'checkpoint.pkl',
        '--max-restarts',
        String(KILLS * 3),
      ];
      // The in-place writer changes its file every few tens of ms: a short settle lets ckpt take
      // the quiet moments between its saves (it is never taken while open for writing).
      if (writer === 'inplace') args.push('--settle', '0.05s');
      const run = startCkpt(
        [...args, '--backoff', '0.05s', '--max-backoff', '0.2s', '--', 'python3', FIXTURE],
        {
          cwd: work,
          env: env(
            work,
            writer,
            writer === 'inplace' ? { DIY_STEP_S: '0.003' } : { DIY_KILL_OFFSETS: plan.offsets.join(',') },
          ),
        },
      );
      let ended = false;
      void run.exited.then(() => {
        ended = true;
      });
      const seen = new Set<number>();
      const checked = new Set<number>();
      let landed = KILLS; // the atomic writer's kills are its own, one per start but the last
      if (writer === 'atomic') {
        // It kills itself at the schedule's steps: watch the starts, check the store after each.
        let starts = 0;
        while (starts < KILLS + 1) {
          if (ended)
            throw new Error(
              `the run ended after ${starts} starts ${seed}\n${run.output().stderr.slice(-3000)}`,
            );
          const now = readSegments(join(work, 'progress.log')).length;
          if (now > starts) {
            starts = now;
            await checkAllLoad(store, checked);
          } else await sleep(20);
        }
      } else {
        landed = 0;
        // KILLS kills that land: a start that dies by itself first does not count.
        for (let i = 0; landed < KILLS; i++) {
          if (i > KILLS * 2) throw new Error(`only ${landed} kills landed in ${i} starts ${seed}`);
          const hit = await killAt(
            join(work, 'program.pid'),
            join(work, 'progress.log'),
            seen,
            // Longer segments than the atomic writer's: time for quiet moments between saves.
            3 * plan.offsets[i % plan.offsets.length]!,
            () => ended,
          ).catch((error: Error) => {
            throw new Error(
              `kill ${landed + 1}: ${error.message} ${seed}\n${run.output().stderr.slice(-3000)}`,
            );
          });
          if (hit) landed++;
          await checkAllLoad(store, checked);
        }
      }
      writeFileSync(join(work, 'fast'), '');
      const end = await run.exited;
      expect(end.code, `${end.stderr.slice(-3000)} ${seed}`).toBe(0);
      expect(end.stdout.match(/^result (\w+)$/gm)?.at(-1), seed).toBe(`result ${expected}`);
      await checkAllLoad(store, checked);

      const segments = readSegments(join(work, 'progress.log'));
      if (process.env.CKPT_TEST_TRACE)
        writeFileSync(
          `/tmp/torture-${writer}.log`,
          `${end.stderr}\n${readFileSync(join(work, 'progress.log'), 'utf8')}`,
        );
      expect(segments.length, seed).toBeGreaterThanOrEqual(KILLS + 1);
      // The torture tortured something: checkpoints were captured, and restarts resumed from them.
      // (The in-place writer is captured only in the quiet moments between its saves.)
      expect(checked.size, `checkpoints captured ${seed}`).toBeGreaterThanOrEqual(
        writer === 'atomic' ? Math.ceil(KILLS / 10) : Math.ceil(KILLS / 40),
      );
      expect(segments.filter((s) => s.from > 0).length, `resumes ${seed}`).toBeGreaterThan(KILLS / 2);
      let lost = 0;
      let lostAlone = 0;
      for (let i = 1; i < segments.length; i++) {
        const before = segments[i - 1]!;
        lost += before.reached - segments[i]!.from;
        lostAlone += before.reached - before.saved;
        if (writer === 'atomic') {
          // Never older than the program's own last complete save: the newest complete state wins.
          expect(
            segments[i]!.from,
            `restart ${i} after reaching ${before.reached} ${seed}`,
          ).toBeGreaterThanOrEqual(before.saved);
        }
      }
      if (writer === 'atomic') {
        const alone = await withoutCkpt(writer, plan);
        console.log(
          `atomic writer, ${KILLS} kills: repeated steps with ckpt ${lost}; measured without ckpt, same kill points: ${alone}`,
        );
        expect(lost, seed).toBeLessThanOrEqual(alone);
        expect(lost, seed).toBeLessThanOrEqual(lostAlone);
        expect(end.stderr, seed).not.toMatch(/set aside/);
      } else {
        console.log(
          `in-place writer, ${KILLS} kills: repeated steps with ckpt ${lost}; ${checked.size} checkpoints captured`,
        );
      }
      expect(runCkpt(['--store', store, 'verify'], { cwd: work }).code).toBe(0);
      await sleep(0);
    }, 900_000);
  }
});
