/**
 * `ckpt flow run` with the SLURM executor on the real local cluster: a fan-out submitted as one
 * job array, heads SIGKILLed while jobs queue, run and finish (and once between sbatch and its
 * journal line), a requeued array task and a time limit of a `checkpoint:` step resumed mid-step,
 * a user's scancel, a retry as a single job, and the head itself as a requeued SLURM job.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { TaskRecord } from '../../src/flow/index.js';
import { type JournalEvent, journalEventsOf } from '../../src/store/index.js';
import { runCkpt } from '../helpers/cli.js';
import { type FlowHead, flowRecords, sideEffects, startHead, writeFanOut } from '../helpers/flow.js';
import { seeded } from '../helpers/random.js';
import { CLI_BIN } from '../helpers/repo.js';
import { sleep, waitFor } from '../helpers/wait-for.js';
import { describeSlurm, journal, queue, sh, showJob, slurmEnv, useJobs, waitJobEnd } from './lab.js';

const SEED = Number(process.env.CKPT_TEST_SEED ?? 7);
/** How often the heads of these tests ask SLURM (the default, 10 s, is for real clusters). */
const POLL = ['--poll', '1s'];

/** The flow store's journal. */
async function flowJournal(dir: string): Promise<JournalEvent[]> {
  return journal(join(dir, '.ckpt-flow', 'store'));
}

/** Steps submitted, one entry per sbatch, with the number of tasks each carried. */
async function submissions(dir: string): Promise<[string, number][]> {
  return journalEventsOf(await flowJournal(dir), 'flow-submit').map((e) => [e.step, e.tasks.length]);
}

/** Registers every job of the flow (named ckf-*) for the after-test scancel. */
function track(jobs: Set<string>): void {
  for (const line of sh('squeue', ['-h', '-o', '%A %j']).stdout.split('\n')) {
    const [id, name] = line.trim().split(' ');
    if (id && name?.startsWith('ckf-')) jobs.add(id);
  }
}

async function finish(head: FlowHead): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { code, stderr } = await head.exited;
  return { code, stderr, stdout: head.lines.join('\n') };
}

describeSlurm('ckpt flow run: the SLURM executor', () => {
  const { jobs, workDir } = useJobs();

  it('submits a fan-out as one array; heads SIGKILLed at any moment resubmit nothing, each side effect happens once', async () => {
    const KS = [1, 2, 3, 4, 5, 6];
    const reference = workDir();
    writeFanOut(reference, KS, 0);
    expect(runCkpt(['flow', 'run', '--local', '--jobs', '2'], { cwd: reference }).code).toBe(0);

    const dir = workDir();
    // 6 tasks of 4 s on 4 CPUs: some wait in the queue while others run.
    writeFanOut(dir, KS, 4, '    executor: slurm\n');
    // 1. The head dies between sbatch and the journal line with its job id: an sbatch that
    //    submits, prints the id, then hangs, and the head is SIGKILLed while it waits for it.
    const bin = join(dir, 'slow-bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'sbatch'),
      `#!/bin/sh\n${sh('sh', ['-c', 'command -v sbatch']).stdout.trim()} "$@"\nexec sleep 15\n`,
    );
    chmodSync(join(bin, 'sbatch'), 0o755);
    const env = slurmEnv();
    const first = startHead(dir, POLL, { ...env, PATH: `${bin}:${env.PATH}` });
    await waitFor(
      () => sh('squeue', ['-h', '-o', '%k']).stdout.includes('ckptflow:'),
      'the array to be submitted',
      {
        timeoutMs: 30_000,
      },
    );
    track(jobs);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(journalEventsOf(await flowJournal(dir), 'flow-submitted')).toEqual([]);

    // 2. Heads killed at random moments: while tasks queue, run and finish.
    const random = seeded(SEED);
    for (let kill = 0; kill < 4; kill++) {
      const head = startHead(dir, POLL, env);
      // Kill 0 waits until the head found the job of the submission it had no id for (by its
      // comment) and attached to it; kill 2 waits for the first side effects, so that the head
      // dies while records are committed. Each kill then comes at a random moment.
      if (kill === 0) {
        const attached = await head.waitLines(/attach {3}gen\[k=1\]: SLURM job \d+_0/, 1);
        expect(attached, head.lines.join('\n')).toBe(true);
      }
      if (kill === 2)
        await waitFor(() => sideEffects(dir).length >= 1, 'a task to finish', { timeoutMs: 60_000 });
      await sleep(300 + random() * 2500);
      head.child.kill('SIGKILL');
      await head.exited;
      track(jobs);
    }
    const last = await finish(startHead(dir, POLL, env));
    track(jobs);
    expect(last.stderr).toBe('');
    expect(last.code).toBe(0);

    // gen as arrays of at most MaxArraySize (5 in the lab) tasks, merge as one job: nothing was
    // submitted twice.
    expect(await submissions(dir)).toEqual([
      ['gen', 5],
      ['gen', 1],
      ['merge', 1],
    ]);
    // Every task's side effect happened exactly once, by the attempt that recorded it.
    const effects = sideEffects(dir);
    expect(effects.map(([task]) => task).sort()).toEqual([...KS.map((k) => `gen[k=${k}]`), 'merge'].sort());
    const ok = (await flowRecords(dir)).filter((r) => r.ok);
    expect(ok).toHaveLength(KS.length + 1);
    for (const r of ok) expect(effects).toContainEqual([r.task, r.nonce]);
    expect(readFileSync(join(dir, 'total.txt'), 'utf8')).toBe(
      readFileSync(join(reference, 'total.txt'), 'utf8'),
    );
    // Each record names its job; the result stores were all copied in and removed.
    expect(ok.every((r) => /^\d+(_\d+)?$/.test(r.job ?? ''))).toBe(true);
    expect(readdirSync(join(dir, '.ckpt-flow', 'results'))).toEqual([]);
    // A last run submits nothing.
    const again = runCkpt(['flow', 'run', ...POLL], { cwd: dir, env });
    expect(again.stdout).toContain(`0 ran, ${KS.length + 1} cached`);
    expect(await submissions(dir)).toHaveLength(3);
  }, 240_000);

  it('resumes a checkpoint: task mid-step after its array task is requeued and after its time limit, without a retry', async () => {
    const dir = workDir();
    writeFileSync(join(dir, 'count.py'), COUNT_PY);
    writeFileSync(
      join(dir, 'ckpt-flow.yaml'),
      `version: 1
steps:
  count:
    for_each: { k: [a, b] }
    run: python3 count.py {k} ${STEPS} 0.25
    inputs: [count.py]
    outputs: ["result_{k}.txt"]
    executor: slurm
    slurm: { time: "10" }
    checkpoint: { every: 2s, capture: "state_{k}.json" }
`,
    );
    const head = startHead(dir, POLL, slurmEnv());
    await waitFor(
      () => head.lines.some((l) => /submit {3}count\[k=b\]/.test(l)),
      'the array to be submitted',
      {
        timeoutMs: 30_000,
      },
    );
    track(jobs);
    const arrayJob = /SLURM job (\d+)_/.exec(head.lines.join('\n'))![1]!;
    // Task a: preempted (requeued) once it is past step 12.
    await waitFor(() => lastStep(dir, 'a') >= 12, 'task a to pass step 12', { timeoutMs: 60_000 });
    expect(sh('scontrol', ['requeue', `${arrayJob}_0`]).code).toBe(0);
    // Task b: its time limit brought to 25 s from now; `ckpt run` checkpoints and requeues before it.
    const end = new Date(Date.now() + 25_000);
    const at = (n: number) => String(n).padStart(2, '0');
    const endTime = `${end.getFullYear()}-${at(end.getMonth() + 1)}-${at(end.getDate())}T${at(end.getHours())}:${at(end.getMinutes())}:${at(end.getSeconds())}`;
    const update = sh('scontrol', ['update', `JobId=${arrayJob}_1`, `EndTime=${endTime}`]);
    expect(update.code, update.stderr).toBe(0);
    const { code, stdout, stderr } = await finish(head);
    expect(stderr).toBe('');
    expect(code, stdout).toBe(0);

    for (const k of ['a', 'b']) {
      const starts = progress(dir, k).filter((l) => l[0] === 'start');
      // Two runs of the program: the second started where a checkpoint left it, not at 0.
      expect(starts.length, `${k}: ${JSON.stringify(starts)}`).toBeGreaterThanOrEqual(2);
      expect(Number(starts[0]![1])).toBe(0);
      expect(Number(starts.at(-1)![1])).toBeGreaterThan(0);
      expect(readFileSync(join(dir, `result_${k}.txt`), 'utf8')).toBe(`${reference(k, STEPS)}\n`);
    }
    // SLURM requeued both tasks under their own job id; the head submitted once and retried nothing.
    expect(Number(showJob(`${arrayJob}_0`)?.Restarts)).toBeGreaterThanOrEqual(1);
    expect(Number(showJob(`${arrayJob}_1`)?.Restarts)).toBeGreaterThanOrEqual(1);
    expect(await submissions(dir)).toEqual([['count', 2]]);
    const records = await flowRecords(dir);
    expect(records.map((r: TaskRecord) => [r.task, r.ok, r.attempt]).sort()).toEqual([
      ['count[k=a]', true, 1],
      ['count[k=b]', true, 1],
    ]);
    // Task b's own store says why it was requeued: the time limit.
    const stepStores = readdirSync(join(dir, '.ckpt-flow', 'steps'));
    const storeB = stepStores.find((s) => s.startsWith('count_k=b_'))!;
    const requeues = journalEventsOf(await journal(join(dir, '.ckpt-flow', 'steps', storeB)), 'requeue');
    expect(requeues.map((r) => r.cause)).toContain('time-limit');
  }, 240_000);

  it('stops a step cancelled with scancel and its dependents, and says so; retries a failed task as a single job', async () => {
    const dir = workDir();
    writeFileSync(
      join(dir, 'ckpt-flow.yaml'),
      `version: 1
defaults: { executor: slurm, retries: 2 }
steps:
  flaky:
    for_each: { k: [1, 2] }
    run: if [ {k} = 2 ] && [ ! -e tried ]; then touch tried; exit 3; fi; echo {k} > flaky_{k}.txt
    outputs: ["flaky_{k}.txt"]
  slow:
    run: sleep 120; echo > slow.txt
    outputs: [slow.txt]
  after:
    needs: [slow]
    run: echo > after.txt
    outputs: [after.txt]
`,
    );
    const head = startHead(dir, POLL, slurmEnv());
    const slowJob = await waitFor(
      () => /submit {3}slow: SLURM job (\d+)/.exec(head.lines.join('\n'))?.[1],
      'slow to be submitted',
      { timeoutMs: 30_000 },
    );
    track(jobs);
    await waitFor(() => showJob(slowJob)?.JobState === 'RUNNING', 'slow to run', { timeoutMs: 30_000 });
    expect(sh('scancel', [slowJob]).code).toBe(0);
    const { code, stdout } = await finish(head);
    track(jobs);
    expect(code).toBe(1);
    expect(stdout).toMatch(
      new RegExp(`failed   slow \\(attempt 1\\): cancelled with scancel \\(job ${slowJob}\\)\\n`),
    );
    expect(stdout).toMatch(/blocked {2}after: slow did not finish/);
    expect(stdout).toMatch(/failed {3}flaky\[k=2\] \(attempt 1\): it exited 3; retrying/);
    expect(readFileSync(join(dir, 'flaky_2.txt'), 'utf8')).toBe('2\n');
    // flaky as an array of 2, its retry as a single job; slow once (a cancel is not retried).
    expect((await submissions(dir)).sort()).toEqual([
      ['flaky', 1],
      ['flaky', 2],
      ['slow', 1],
    ]);
    expect(existsSync(join(dir, 'after.txt'))).toBe(false);
    const status = runCkpt(['flow', 'status', '--json'], { cwd: dir, env: slurmEnv() });
    const rows = JSON.parse(status.stdout).tasks as { task: string; status: string; error?: string }[];
    expect(rows.find((r) => r.task === 'slow')).toMatchObject({
      status: 'failed',
      error: `cancelled with scancel (job ${slowJob})`,
      job: slowJob,
    });
    expect(rows.find((r) => r.task === 'flaky[k=2]')?.status).toBe('done');
  }, 180_000);

  it('runs its head as a SLURM job that survives its own requeue and re-attaches to its tasks', async () => {
    const KS = [1, 2];
    const dir = workDir();
    // Tasks of 20 s: they still run when the requeued head comes back (~6 s in the lab).
    writeFanOut(dir, KS, 20, '    executor: slurm\n');
    const submit = runCkpt(
      [
        '--store',
        join(dir, 'head-store'),
        'sbatch',
        '--time',
        '10',
        '-o',
        join(dir, 'head.out'),
        '--',
        process.execPath,
        CLI_BIN,
        'flow',
        'run',
        ...POLL,
      ],
      { cwd: dir, env: slurmEnv() },
    );
    expect(submit.code, submit.stderr).toBe(0);
    const headJob = submit.stdout.trim();
    jobs.add(headJob);
    const out = () => (existsSync(join(dir, 'head.out')) ? readFileSync(join(dir, 'head.out'), 'utf8') : '');
    await waitFor(() => /submit {3}gen\[k=2\]/.test(out()), 'the head to submit gen', { timeoutMs: 60_000 });
    track(jobs);
    await sleep(1500);
    expect(sh('scontrol', ['requeue', headJob]).code).toBe(0);
    const final = await waitJobEnd(headJob, 120_000, dir);
    track(jobs);
    expect(final.JobState, out()).toBe('COMPLETED');
    expect(Number(final.Restarts)).toBe(1);
    expect(out()).toMatch(/attach {3}gen\[k=1\]/);
    expect(out()).toMatch(/ckpt flow: 3 ran, 0 cached, 0 failed, 0 blocked\./);
    expect(await submissions(dir)).toEqual([
      ['gen', 2],
      ['merge', 1],
    ]);
    expect(
      sideEffects(dir)
        .map(([t]) => t)
        .sort(),
    ).toEqual(['gen[k=1]', 'gen[k=2]', 'merge']);
    expect(queue()).toEqual([]);
  }, 240_000);
});

const STEPS = 120;

/**
 * A program that counts to N, one step every S seconds, keeping its state in state_K.json
 * (written atomically each step) and its progress in progress_K.log; result_K.txt holds a value
 * that depends on every step having run once, in order.
 */
const COUNT_PY = `import json, os, sys, time
k, total, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
path = f'state_{k}.json'
state = json.load(open(path)) if os.path.exists(path) else {'step': 0, 'acc': 7}
log = open(f'progress_{k}.log', 'a')
log.write(f"start {state['step']} {os.getpid()}\\n"); log.flush()
while state['step'] < total:
    time.sleep(pause)
    state['step'] += 1
    state['acc'] = (state['acc'] * 31 + state['step']) % 1000003
    with open(path + '.tmp', 'w') as f: json.dump(state, f)
    os.replace(path + '.tmp', path)
    log.write(f"step {state['step']}\\n"); log.flush()
open(f'result_{k}.txt', 'w').write(f"{state['acc']}\\n")
`;

/** What count.py writes into result_K.txt when every step ran once. */
function reference(_k: string, total: number): number {
  let acc = 7;
  for (let step = 1; step <= total; step++) acc = (acc * 31 + step) % 1000003;
  return acc;
}

function progress(dir: string, k: string): string[][] {
  const path = join(dir, `progress_${k}.log`);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' '));
}

function lastStep(dir: string, k: string): number {
  return Math.max(0, ...progress(dir, k).map((l) => Number(l[1] ?? 0)));
}
