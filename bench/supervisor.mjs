// `ckpt run` benchmarks (docs/performance.md):
//   1. overhead on a CPU-bound program (~30 s of work) under `ckpt run` vs bare, alternating;
//   2. `ckpt run -- true` start-up, median of 20, next to a bare `true` spawn;
//   3. capture of a 1 GiB checkpoint file vs a raw copy + fsync, and re-capture of the unchanged file.
//   node bench/supervisor.mjs      (BENCH_CPU_SECONDS=30, BENCH_GIB=1)
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, fsyncSync, openSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  benchDir,
  fmtMs,
  fmtRate,
  GiB,
  median,
  now,
  printTable,
  randomFloat64,
  rawWriteFsync,
} from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ckpt = join(here, '..', 'bin', 'ckpt');
const base = benchDir('bench-run-');
const cpuSeconds = Number(process.env.BENCH_CPU_SECONDS ?? '30');
const bytes = Math.round((Number(process.env.BENCH_GIB ?? '1') * GiB) / 8) * 8;

function timed(cmd, args, opts = {}) {
  const t = now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return now() - t;
}

// 1. Overhead. The busy loop does a fixed amount of work, calibrated to ~cpuSeconds here.
const busy = `let x=0;for(let i=0;i<Number(process.argv[1]);i++){x=(x*1103515245+12345)%2147483648}console.log(x)`;
const calib = 2e8;
const calibMs = timed(process.execPath, ['-e', busy, String(calib)]);
const iterations = Math.round((calib * cpuSeconds * 1000) / calibMs);
const bare = [];
const wrapped = [];
for (let i = 0; i < 3; i++) {
  bare.push(timed(process.execPath, ['-e', busy, String(iterations)]));
  wrapped.push(
    timed(ckpt, [
      '--store',
      join(base, `ovh-${i}`),
      'run',
      '--every',
      '5s',
      '--',
      process.execPath,
      '-e',
      busy,
      String(iterations),
    ]),
  );
}

// 2. Start-up.
const trueBare = [];
const trueRun = [];
for (let i = 0; i < 20; i++) {
  trueBare.push(timed('true', []));
  trueRun.push(timed(ckpt, ['--store', join(base, 'startup'), 'run', '--', 'true']));
}

// 3. Capture of a 1 GiB file: `ckpt commit` runs the same capture code as `--capture`.
const work = join(base, 'work');
spawnSync('mkdir', ['-p', work]);
const file = join(work, 'state.bin');
rawWriteFsync(file, new Uint8Array(randomFloat64(bytes / 8).buffer));
const copyMs = [];
const captureMs = [];
for (let i = 0; i < 2; i++) {
  const t = now();
  copyFileSync(file, join(base, 'copy.bin'));
  const fd = openSync(join(base, 'copy.bin'), 'r+');
  fsyncSync(fd);
  closeSync(fd);
  copyMs.push(now() - t);
  rmSync(join(base, 'copy.bin'));
  const store = join(base, `cap-${i}`);
  captureMs.push(timed(ckpt, ['--store', store, 'commit', '--step', '1', 'state.bin'], { cwd: work }));
}
const again = spawnSync(
  ckpt,
  ['--store', join(base, 'cap-1'), 'commit', '--json', '--step', '2', 'state.bin'],
  { cwd: work },
);
const againStats = JSON.parse(again.stdout.toString()).stats;
rmSync(base, { recursive: true, force: true });

const ratio = (x) => `${x.toFixed(3)}x`;
printTable(
  `Overhead on a CPU-bound program (~${cpuSeconds} s, 3 alternating rounds)`,
  ['run', 'median', 'best', 'vs bare (median / best)'],
  [
    ['bare', fmtMs(median(bare)), fmtMs(Math.min(...bare)), '1.000x'],
    [
      'under `ckpt run --every 5s`',
      fmtMs(median(wrapped)),
      fmtMs(Math.min(...wrapped)),
      `${ratio(median(wrapped) / median(bare))} / ${ratio(Math.min(...wrapped) / Math.min(...bare))}`,
    ],
  ],
);
printTable(
  'Start-up (median of 20)',
  ['command', 'wall time'],
  [
    ['`true` (bare spawn)', fmtMs(median(trueBare))],
    ['`ckpt run -- true`', fmtMs(median(trueRun))],
  ],
);
printTable(
  `Capture of a ${(bytes / GiB).toFixed(2)} GiB file (best of 2)`,
  ['method', 'time', 'throughput', 'ckpt vs it'],
  [
    [
      'raw copy + fsync',
      fmtMs(Math.min(...copyMs)),
      fmtRate(bytes, Math.min(...copyMs)),
      ratio(Math.min(...copyMs) / Math.min(...captureMs)),
    ],
    [
      '**ckpt commit** (anchored chunks, SHA-256, durable)',
      fmtMs(Math.min(...captureMs)),
      fmtRate(bytes, Math.min(...captureMs)),
      '1.000x',
    ],
    [
      're-capture of the unchanged file: bytes written',
      `${againStats.writtenBytes} B (${((100 * againStats.writtenBytes) / bytes).toFixed(3)}%)`,
      '',
      '',
    ],
  ],
);
console.log(
  '\nGoals: overhead ≤ 1.01x; start-up ≤ 150 ms median; capture ≥ 0.90x raw copy+fsync; re-capture < 1% written.',
);
