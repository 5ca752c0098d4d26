// ckpt's main job on its embedded default: a real simulation is killed mid-run and resumes
// from its last verified checkpoint, then its result is compared with an uninterrupted run.
//   npm run demo
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const heat = join(root, 'examples', 'node', 'heat.mjs');
const ckpt = join(root, 'bin', 'ckpt');
const work = mkdtempSync(join(tmpdir(), 'ckpt-demo-'));
const store = join(work, 'store');
const args = ['--steps', '2000', '--cells', String(1 << 19), '--every', '200'];

const say = (text) => console.log(`\n== ${text}`);
const runToEnd = (storeDir) => {
  const r = spawnSync(process.execPath, [heat, '--store', storeDir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error(`heat exited with ${r.status}`);
  return /field sha256 (\w+)/.exec(r.stdout.toString())?.[1];
};

try {
  say('1. Start the simulation and kill it with SIGKILL after 2 s (no warning, no clean-up)');
  const child = spawn(process.execPath, [heat, '--store', store, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  console.log(`   the job ended: ${signal ? `killed by ${signal}` : `exit ${code}`}`);

  say('2. What the store holds, and where the next start resumes (ckpt ls / ckpt why)');
  spawnSync(ckpt, ['--store', store, 'ls'], { stdio: 'inherit' });
  spawnSync(ckpt, ['--store', store, 'why'], { stdio: 'inherit' });

  say('3. Start it again: it resumes from the last checkpoint and runs to the end');
  const resumed = runToEnd(store);

  say('4. An uninterrupted run of the same job, for comparison');
  const reference = runToEnd(join(work, 'reference-store'));

  say('5. Result');
  const same = resumed !== undefined && resumed === reference;
  console.log(
    same
      ? '   The interrupted-and-resumed run ends bitwise identical to the uninterrupted one.'
      : `   MISMATCH: resumed ${resumed} vs uninterrupted ${reference}`,
  );
  process.exitCode = same ? 0 : 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
