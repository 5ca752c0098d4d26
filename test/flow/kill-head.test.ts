import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCkpt } from '../helpers/cli.js';
import { flowRecords, sideEffects, startHead, writeFanOut } from '../helpers/flow.js';
import { seeded } from '../helpers/random.js';
import { requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const tmp = useTempDirs('ckpt-flow-kill-');
const KS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const KILLS = 20;
const SEED = Number(process.env.CKPT_TEST_SEED ?? 10);

beforeAll(requireBuild);

/** Pids of live processes working in `dir` or naming it (the flow's heads, wrappers and commands). */
function processesUnder(dir: string): number[] {
  const real = realpathSync(dir);
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if ((cwd === real || cmdline.includes(real)) && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z')
        pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

describe('a flow head SIGKILLed at random moments', () => {
  it('loses nothing: each finished task ran once, each side effect belongs to one attempt, and the result is an uninterrupted run', async () => {
    const reference = tmp();
    writeFanOut(reference, KS);
    expect(runCkpt(['flow', 'run', '--jobs', '2'], { cwd: reference }).code).toBe(0);

    const dir = tmp();
    writeFanOut(dir, KS);
    const random = seeded(SEED);
    let kills = 0;
    /** Task attempts a kill cut off: started by a head that died before it saw them end. */
    let cutOff = 0;
    let finished = false;
    for (let round = 0; round < 60 && !finished; round++) {
      const head = startHead(dir, ['--jobs', '2']);
      // A moment in the run: after a random number (0 to 3) of task starts and ends, then a
      // little more; with none, anywhere in the head's start (lease, reaping, reading records).
      const events = Math.floor(random() * 4);
      const reached = await head.waitLines(/^\[\d+\/\d+\] (start|done)/, events);
      if (reached && kills < KILLS) {
        await new Promise((r) => setTimeout(r, random() * (events === 0 ? 300 : 80)));
        head.child.kill('SIGKILL');
        const { signal } = await head.exited;
        if (signal === 'SIGKILL') {
          kills++;
          const task = (verb: string) =>
            head.lines.flatMap((l) => (l.includes(` ${verb} `) ? [l.split(/\s+/)[2]!] : []));
          const ended = new Set([...task('done'), ...task('failed')]);
          cutOff += task('start').filter((t) => !ended.has(t)).length;
          continue;
        }
      }
      const { code, stderr } = await head.exited;
      expect(stderr).toBe('');
      if (code === 0) finished = true;
    }
    expect(kills).toBe(KILLS);
    expect(cutOff).toBeGreaterThanOrEqual(3);
    expect(finished).toBe(true);

    // The result equals the uninterrupted run's.
    expect(readFileSync(join(dir, 'total.txt'), 'utf8')).toBe(
      readFileSync(join(reference, 'total.txt'), 'utf8'),
    );
    // Each task has exactly one successful record: nothing that finished ran again.
    const records = await flowRecords(dir);
    const ok = records.filter((r) => r.ok);
    expect(ok.map((r) => r.task).sort()).toEqual([...KS.map((k) => `gen[k=${k}]`), 'merge'].sort());
    // Each side effect belongs to one attempt; the recorded attempt's happened exactly once, and
    // any other is of an attempt killed after its side effect and before its record (a needed rerun).
    const effects = sideEffects(dir);
    const attempts = effects.map(([, id]) => id);
    expect(new Set(attempts).size).toBe(attempts.length);
    for (const record of ok) {
      expect(effects.filter(([task, id]) => task === record.task && id === record.nonce)).toHaveLength(1);
    }
    expect(effects.length - ok.length).toBeLessThanOrEqual(kills);
    // A last run does nothing, and nothing of the killed heads lives on.
    const last = runCkpt(['flow', 'run'], { cwd: dir });
    expect(last.stdout).toContain(`0 ran, ${KS.length + 1} cached`);
    expect(processesUnder(dir)).toEqual([]);
  }, 240_000);

  it('takes its running tasks with it: no orphan outlives a SIGKILLed head', async () => {
    const dir = tmp();
    writeFanOut(dir, [1, 2], 30);
    const head = startHead(dir, ['--jobs', '2']);
    expect(await head.waitLines(/start/, 2)).toBe(true);
    // Both commands run (python3 sleeping) before the head dies.
    while (
      processesUnder(dir).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('gen.py'))
        .length < 2
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    head.child.kill('SIGKILL');
    await head.exited;
    const until = Date.now() + 20_000;
    while (processesUnder(dir).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(processesUnder(dir)).toEqual([]);
    expect(sideEffects(dir)).toEqual([]);
    expect(await flowRecords(dir)).toEqual([]);
  });
});

describe('a checkpoint: step', () => {
  it('runs under ckpt run and resumes mid-step after its head was SIGKILLed', async () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'count.py'),
      `import os, sys, time
k = sys.argv[1]
state = f'state_{k}.txt'
i = int(open(state).read()) if os.path.exists(state) else 0
with open('starts.txt', 'a') as f: f.write(f'{i}\\n')
while i < 20:
    time.sleep(0.05)
    i += 1
    open(state + '.tmp', 'w').write(str(i)); os.replace(state + '.tmp', state)
open(f'out_{k}.txt', 'w').write(f'{i}\\n')
`,
    );
    writeFileSync(
      join(dir, 'ckpt-flow.yaml'),
      `version: 1
steps:
  count:
    for_each: { k: [a] }
    run: python3 count.py {k}
    inputs: [count.py]
    outputs: ["out_{k}.txt"]
    checkpoint: { capture: "state_{k}.txt" }
`,
    );
    const head = startHead(dir);
    expect(await head.waitLines(/start/, 1)).toBe(true);
    const state = join(dir, 'state_a.txt');
    while (!existsSync(state) || Number(readFileSync(state, 'utf8')) < 5)
      await new Promise((r) => setTimeout(r, 20));
    head.child.kill('SIGKILL');
    await head.exited;
    const again = runCkpt(['flow', 'run'], { cwd: dir });
    const logs = join(dir, '.ckpt-flow', 'logs');
    const explain = () =>
      `${again.stdout}${again.stderr}\n${readdirSync(logs)
        .map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8')}`)
        .join('\n')}`;
    expect(again.code, explain()).toBe(0);
    const starts = readFileSync(join(dir, 'starts.txt'), 'utf8').trim().split('\n').map(Number);
    expect(starts[0]).toBe(0);
    expect(starts.at(-1)).toBeGreaterThanOrEqual(5);
    expect(readFileSync(join(dir, 'out_a.txt'), 'utf8')).toBe('20\n');
  });
});
