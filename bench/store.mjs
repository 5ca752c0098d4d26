// Store and library benchmarks for 1 GiB of float64 state (docs/performance.md).
//   npm run bench            (BENCH_GIB=0.25 for a quicker run)
// Every ratio compares two things measured side by side in this run, on the same file system.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCheckpointer } from '../dist/index.js';
import {
  dropCaches,
  fmtMs,
  fmtRate,
  GiB,
  median,
  now,
  printTable,
  randomFloat64,
  rawRead,
  rawWriteFsync,
} from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const scale = Number(process.env.BENCH_GIB ?? '1');
const bytes = Math.round((scale * GiB) / 8) * 8;
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const base = mkdtempSync(join(process.env.BENCH_DIR ?? join(here, '..', '.tmp'), 'bench-'));
const state = { step: 0, field: randomFloat64(bytes / 8) };
const view = new Uint8Array(state.field.buffer);
const gc = () => globalThis.gc?.();

async function freshSave(dir) {
  const ck = await openCheckpointer({ dir, compression: 'off', keep: 2 });
  const t = now();
  const r = await ck.save(state, { step: 0 });
  const ms = now() - t;
  await ck.close();
  return { ms, written: r.stats.writtenBytes };
}

const rows = { raw: [], save: [], incr: [], incrBytes: 0, full: [] };
console.log(
  `ckpt benchmark: ${(bytes / GiB).toFixed(2)} GiB Float64Array of random values, ${rounds} rounds, in ${base}`,
);

// 1. Full durable save vs raw write+fsync, alternating.
for (let i = 0; i < rounds; i++) {
  const rawPath = join(base, `raw-${i}.bin`);
  const t = now();
  rawWriteFsync(rawPath, view);
  rows.raw.push(now() - t);
  rmSync(rawPath);
  gc();
  const dir = join(base, `store-${i}`);
  rows.save.push((await freshSave(dir)).ms);
  if (i < rounds - 1) rmSync(dir, { recursive: true });
  gc();
}
const rawMs = median(rows.raw);
const saveMs = median(rows.save);

// 2. Incremental: change 1% (one contiguous region), save again into the same store.
const ck = await openCheckpointer({ dir: join(base, `incr`), compression: 'off', keep: 2 });
await ck.save(state, { step: 0 });
for (let i = 0; i < rounds; i++) {
  const n = Math.floor(state.field.length / 100);
  const from = Math.floor(((i + 1) * state.field.length) / (rounds + 2));
  for (let j = from; j < from + n; j++) state.field[j] += 1;
  const t = now();
  const r = await ck.save(state, { step: i + 1 });
  rows.incr.push(now() - t);
  rows.incrBytes = Math.max(rows.incrBytes, r.stats.writtenBytes);
}
const incrMs = median(rows.incr);

// 3. saveAsync blocking time vs memcpy of the same bytes.
const copyFresh = [];
const copyWarm = [];
const asyncFirst = [];
const asyncSteady = [];
const target = new Uint8Array(new ArrayBuffer(bytes));
for (let i = 0; i < rounds; i++) {
  let t = now();
  new Float64Array(state.field); // allocate + copy, like any snapshot must the first time
  copyFresh.push(now() - t);
  gc();
  t = now();
  target.set(view);
  copyWarm.push(now() - t);
}
for (let i = 0; i < rounds + 1; i++) {
  state.field[i] += 1;
  const t = now();
  const pending = await ck.saveAsync(state, { step: 100 + i });
  (i === 0 ? asyncFirst : asyncSteady).push(now() - t);
  await pending.committed;
}
await ck.close();

// 4. Restore vs raw read of the same bytes, both from a cold page cache (when root can drop it).
const rawPath = join(base, 'raw-read.bin');
rawWriteFsync(rawPath, view);
const restoreMs = [];
const readMs = [];
let cold = true;
for (let i = 0; i < rounds; i++) {
  cold = dropCaches() && cold;
  let t = now();
  rawRead(rawPath, bytes);
  readMs.push(now() - t);
  gc();
  cold = dropCaches() && cold;
  const reader = await openCheckpointer({ dir: join(base, 'incr') });
  t = now();
  const restored = await reader.restore();
  restoreMs.push(now() - t);
  await reader.close();
  if (restored.field.length !== state.field.length) throw new Error('restore returned the wrong size');
  gc();
}

// 5. Python's usual tools on the same array, same file system.
let python = {};
try {
  python = JSON.parse(
    execFileSync('/usr/bin/python3', [join(here, 'python_save.py'), rawPath, base]).toString(),
  );
} catch (error) {
  python = { note: `python3 failed: ${error.message.split('\n')[0]}` };
}
rmSync(base, { recursive: true, force: true });

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const ratio = (x) => `${x.toFixed(2)}x`;
printTable(
  'Durable save of the whole array (median)',
  ['method', 'time', 'throughput', 'ckpt vs it'],
  [
    ['raw write + fsync (one file)', fmtMs(rawMs), fmtRate(bytes, rawMs), ratio(rawMs / saveMs)],
    ['**ckpt save** (fresh store)', fmtMs(saveMs), fmtRate(bytes, saveMs), '1.00x'],
    ...['pickle', 'numpy.save', 'torch.save'].map((k) =>
      typeof python[k] === 'number'
        ? [`python ${k} + fsync`, fmtMs(python[k]), fmtRate(bytes, python[k]), ratio(python[k] / saveMs)]
        : [`python ${k}`, 'skipped', python.note_numpy ?? python.note_torch ?? python.note ?? 'not run', ''],
    ),
  ],
);
printTable(
  'Incremental save after changing 1% (contiguous)',
  ['measure', 'value', 'goal'],
  [
    ['bytes written / state', pct(rows.incrBytes / bytes), '≤ 2%'],
    ['time / full save', `${pct(incrMs / saveMs)} (${fmtMs(incrMs)})`, '≤ 10%'],
  ],
);
printTable(
  'saveAsync blocking time (median)',
  ['measure', 'time', 'saveAsync vs it'],
  [
    ['memcpy into a reused buffer', fmtMs(median(copyWarm)), ratio(median(asyncSteady) / median(copyWarm))],
    [
      'allocate + memcpy (new Float64Array(a))',
      fmtMs(median(copyFresh)),
      ratio(median(asyncSteady) / median(copyFresh)),
    ],
    ['**saveAsync**, steady state (buffers reused)', fmtMs(median(asyncSteady)), ''],
    ['saveAsync, first call (allocates)', fmtMs(asyncFirst[0]), ''],
  ],
);
printTable(
  `Restore (${cold ? 'cold page cache' : 'WARM page cache: not root, could not drop it'}; median)`,
  ['method', 'time', 'throughput', 'ckpt vs it'],
  [
    [
      'raw read into new memory',
      fmtMs(median(readMs)),
      fmtRate(bytes, median(readMs)),
      ratio(median(readMs) / median(restoreMs)),
    ],
    [
      '**ckpt restore** (verifies every chunk)',
      fmtMs(median(restoreMs)),
      fmtRate(bytes, median(restoreMs)),
      '1.00x',
    ],
  ],
);
console.log(
  `\nGoals: save ≥ 0.90x raw; incremental ≤ 2% bytes and ≤ 10% time; saveAsync ≤ 2x memcpy; restore ≥ 0.90x raw read.`,
);
