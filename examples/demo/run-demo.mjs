// ckpt's main job on its embedded default: a real simulation runs under `ckpt run`, is
// SIGKILLed (ckpt restarts it from its last checkpoint), then stopped with SIGTERM (it
// checkpoints on ckpt's request and ckpt exits 75, "resumable"), then resumed to the end.
// The result is compared with an uninterrupted run.   npm run demo
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const heat = join(root, 'examples', 'node', 'heat.mjs');
const ckpt = join(root, 'bin', 'ckpt');
const work = mkdtempSync(join(tmpdir(), 'ckpt-demo-'));
const store = join(work, 'store');
const program = [process.execPath, heat, '--steps', '6000', '--cells', String(1 << 19), '--every', '100'];
const run = ['--store', store, 'run', '--max-restarts', '3', '--backoff', '0.5s', '--grace', '20s', '--', ...program];

const say = (text) => console.log(`\n== ${text}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const childPid = (pid) => Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0]);
const ended = (child) => new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));

try {
  say('1. `ckpt run -- node heat.mjs`: a 1-D heat simulation that saves its state with ckpt\'s library');
  const first = spawn(ckpt, run, { stdio: 'inherit' });
  const firstEnd = ended(first);
  await sleep(2000);
  const victim = childPid(first.pid);
  say(`2. SIGKILL the simulation (pid ${victim}): no warning, no clean-up. ckpt restarts it from its last checkpoint`);
  process.kill(victim, 'SIGKILL');
  await sleep(3000);
  say('3. SIGTERM to ckpt, as a scheduler would send it: ckpt asks the program for a checkpoint, then stops it');
  first.kill('SIGTERM');
  console.log(`   ckpt exited with ${await firstEnd} (75 = interrupted, resumable)`);

  say('4. What ckpt knows: `ckpt status` and `ckpt why`');
  spawnSync(ckpt, ['--store', store, 'status'], { stdio: 'inherit' });
  spawnSync(ckpt, ['--store', store, 'why'], { stdio: 'inherit' });

  say('5. The same command again: it resumes from the last checkpoint and runs to the end');
  const resumed = spawnSync(ckpt, run, { stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(resumed.stdout);
  const resumedHash = /field sha256 (\w+)/.exec(resumed.stdout.toString())?.[1];

  say('6. An uninterrupted run of the same simulation, without ckpt, for comparison');
  const reference = spawnSync(program[0], [...program.slice(1), '--store', join(work, 'reference')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const referenceHash = /field sha256 (\w+)/.exec(reference.stdout.toString())?.[1];
  console.log(`   reference field sha256 ${referenceHash}`);

  say('7. Result');
  const same = resumedHash !== undefined && resumedHash === referenceHash;
  console.log(
    same
      ? '   Killed, restarted, stopped and resumed: the result is bitwise identical to the uninterrupted run.'
      : `   MISMATCH: resumed ${resumedHash} vs uninterrupted ${referenceHash}`,
  );
  process.exitCode = same ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
