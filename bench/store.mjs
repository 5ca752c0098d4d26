// The store at disk speed (docs/performance.md): every goal of the file and array paths, each
// measured against its comparison side by side in one run, in alternating order, medians.
//   npm run bench                       (BENCH_GIB=0.25 BENCH_SCALE=0 for a quicker run)
// BENCH_SCALE=0 skips the 2/4/8 GiB scaling rows; BENCH_VERIFY_GIB sets the verify/gc store size.
import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openCheckpointer } from '../dist/index.js';
import {
  benchDir,
  dropCaches,
  GiB,
  MiB,
  median,
  now,
  printTable,
  randomFloat64,
  rawRead,
  rawWriteFsync,
} from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ckptBin = join(here, '..', 'bin', 'ckpt');
const scale = Number(process.env.BENCH_GIB ?? '1');
const bytes = Math.round((scale * GiB) / 8) * 8;
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const verifyGiB = Number(process.env.BENCH_VERIFY_GIB ?? '4');
const scaleSizes = process.env.BENCH_SCALE === '0' ? [] : [2, 4, 8];
const base = benchDir('bench-');
const gc = () => globalThis.gc?.();
const cold = dropCaches();
const coldNote = cold ? 'cold cache' : 'WARM cache (not root: could not drop it)';

const state = { step: 0, field: randomFloat64(bytes / 8) };
const view = new Uint8Array(state.field.buffer);
const rows = [];
const ratio = (a, b) => a / b;
console.log(
  `ckpt store benchmark: ${(bytes / GiB).toFixed(2)} GiB of random float64, ${rounds} alternating rounds, in ${base}`,
);

/** Runs every side once per round, in an order that rotates each round; returns medians by name. */
async function sideBySide(sides) {
  const times = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  const names = Object.keys(sides);
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) {
      gc();
      times[name].push(await sides[name](r));
    }
  }
  return Object.fromEntries(names.map((k) => [k, median(times[k])]));
}

function row(goal, ckptMs, otherName, otherMs, limit, better = 'lower') {
  const x = ratio(ckptMs, otherMs);
  const met = better === 'lower' ? x <= limit : x >= limit;
  rows.push([
    goal,
    `${ckptMs.toFixed(0)} ms`,
    `${otherName}: ${otherMs.toFixed(0)} ms`,
    `${x.toFixed(2)}`,
    `${better === 'lower' ? '≤' : '≥'} ${limit}`,
    met ? 'yes' : '**no**',
  ]);
}

function fraction(goal, part, whole, limit, unit) {
  const x = part / whole;
  rows.push([
    goal,
    unit(part),
    unit(whole),
    `${(x * 100).toFixed(2)} %`,
    `≤ ${limit * 100} %`,
    x <= limit ? 'yes' : '**no**',
  ]);
}
const fmtBytes = (b) => `${(b / MiB).toFixed(1)} MiB`;
const fmtMs = (ms) => `${ms.toFixed(0)} ms`;

function ckpt(args) {
  const t = now();
  const out = execFileSync(process.execPath, [ckptBin, ...args], { maxBuffer: 64 << 20 }).toString();
  return { ms: now() - t, json: out.trim().startsWith('{') ? JSON.parse(out) : undefined };
}

function copyFsync(from, to) {
  copyFileSync(from, to);
  const fd = openSync(to, 'r+');
  fsyncSync(fd);
  closeSync(fd);
}

// A persistent Python process, so its saves interleave with ckpt's (bench/python_save.py).
const rawPath = join(base, 'state.raw');
rawWriteFsync(rawPath, view);
const py = spawn('/usr/bin/python3', [join(here, 'python_save.py'), rawPath, base], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const pyLines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
const pyInfo = await pyLines
  .next()
  .then((r) => JSON.parse(r.value))
  .catch(() => ({ ready: [], notes: { python: 'python3 did not start' } }));
async function pySave(method) {
  py.stdin.write(`${method}\n`);
  return JSON.parse((await pyLines.next()).value).ms;
}

// 1. Library save() into a fresh store vs raw write and Python's savers.
let saveWritten = 0;
const saveSides = {
  'ckpt save': async (r) => {
    const dir = join(base, `save-${r}`);
    const ck = await openCheckpointer({ dir, keep: 2 });
    const t = now();
    const res = await ck.save(state, { step: 0 });
    const ms = now() - t;
    saveWritten = res.stats.writtenBytes;
    await ck.close();
    rmSync(dir, { recursive: true });
    return ms;
  },
  'raw write + fsync': async () => {
    const t = now();
    rawWriteFsync(join(base, 'raw.bin'), view);
    const ms = now() - t;
    rmSync(join(base, 'raw.bin'));
    return ms;
  },
};
for (const method of pyInfo.ready) saveSides[`${method} + fsync`] = () => pySave(method);
const save = await sideBySide(saveSides);
for (const [name, ms] of Object.entries(save))
  if (name !== 'ckpt save') row('library save()', save['ckpt save'], name, ms, 1.0);
for (const [method, note] of Object.entries(pyInfo.notes))
  rows.push(['library save()', '', `${method}: ${note}`, '', '', 'not run']);
py.stdin.end();

// 2. Incremental library save: 1 % changed in 10 scattered places.
const incrDir = join(base, 'incr');
const ck = await openCheckpointer({ dir: incrDir, keep: 2 });
await ck.save(state, { step: 0 });
const incrMs = [];
let incrBytes = 0;
for (let r = 0; r < rounds; r++) {
  const per = Math.floor(state.field.length / 1000);
  for (let p = 0; p < 10; p++) {
    const from = Math.floor(((p + 0.5) * state.field.length) / 10) - r * per;
    for (let j = from; j < from + per; j++) state.field[j] += 1;
  }
  const t = now();
  const res = await ck.save(state, { step: r + 1 });
  incrMs.push(now() - t);
  incrBytes = Math.max(incrBytes, res.stats.writtenBytes);
}
// saveAsync: the part that blocks the program (a snapshot copy) vs a memcpy of the same bytes.
const copyTarget = new Uint8Array(new ArrayBuffer(bytes));
await (await ck.saveAsync(state, { step: 99 })).committed; // the first call allocates its buffers
const blocking = await sideBySide({
  saveAsync: async (r) => {
    state.field[r] += 1;
    const t = now();
    const pending = await ck.saveAsync(state, { step: 100 + r });
    const ms = now() - t;
    await pending.committed;
    return ms;
  },
  memcpy: async () => {
    const t = now();
    copyTarget.set(view);
    return now() - t;
  },
});
row(
  'saveAsync blocking time (steady state)',
  blocking.saveAsync,
  'memcpy into a reused buffer',
  blocking.memcpy,
  2.0,
);
await ck.close();
fraction('library save, 1 % changed in 10 places: bytes written', incrBytes, bytes, 0.02, fmtBytes);
fraction('library save, 1 % changed in 10 places: time', median(incrMs), save['ckpt save'], 0.1, fmtMs);

// 3. Library restore() vs a raw read into new memory, both from a cold cache.
const restore = await sideBySide({
  'ckpt restore()': async () => {
    dropCaches();
    const reader = await openCheckpointer({ dir: incrDir });
    const t = now();
    const got = await reader.restore();
    const ms = now() - t;
    await reader.close();
    if (got.field.length !== state.field.length) throw new Error('restore returned the wrong size');
    return ms;
  },
  'raw read into memory': async () => {
    dropCaches();
    const t = now();
    rawRead(rawPath, bytes);
    return now() - t;
  },
});
row(
  `library restore() (${coldNote}; throughput ratio)`,
  restore['raw read into memory'],
  'inverse',
  restore['ckpt restore()'],
  0.9,
  'higher',
);
rows.at(-1)[1] = `${restore['ckpt restore()'].toFixed(0)} ms`;
rows.at(-1)[2] = `raw read: ${restore['raw read into memory'].toFixed(0)} ms`;

// 4. `ckpt commit` of a 1 GiB file vs copy + fsync; re-commit; 1 % changed in the middle.
const work = join(base, 'work');
mkdirSync(work);
const file = join(work, 'state.bin');
copyFsync(rawPath, file);
let fullCommitBytes = 0;
const commit = await sideBySide({
  'ckpt commit': (r) => {
    const store = join(base, `commit-${r}`);
    const res = ckpt(['commit', '--store', store, '--step', '1', '--cwd', work, '--json', 'state.bin']);
    fullCommitBytes = res.json.stats.writtenBytes;
    if (r < rounds - 1) rmSync(store, { recursive: true });
    return res.ms;
  },
  'copy + fsync': () => {
    const t = now();
    copyFsync(file, join(base, 'copy.bin'));
    const ms = now() - t;
    rmSync(join(base, 'copy.bin'));
    return ms;
  },
});
row('`ckpt commit` of the file', commit['ckpt commit'], 'copy + fsync', commit['copy + fsync'], 1.1);
const store = join(base, `commit-${rounds - 1}`);
const again = [];
let againBytes = 0;
for (let r = 0; r < rounds; r++) {
  const res = ckpt([
    'commit',
    '--store',
    store,
    '--step',
    String(2 + r),
    '--cwd',
    work,
    '--json',
    'state.bin',
  ]);
  again.push(res.ms);
  againBytes = Math.max(againBytes, res.json.stats.writtenBytes);
}
fraction('re-commit of the unchanged file: bytes written', againBytes, fullCommitBytes, 0.01, fmtBytes);
fraction('re-commit of the unchanged file: time', median(again), commit['ckpt commit'], 0.1, fmtMs);
const middle = [];
let middleBytes = 0;
for (let r = 0; r < rounds; r++) {
  const fd = openSync(file, 'r+');
  const len = Math.floor(bytes / 100);
  // Random bytes: a patch of one repeated byte would dedup and compress to almost nothing.
  const patch = randomFillSync(Buffer.allocUnsafe(len));
  writeSync(fd, patch, 0, len, Math.floor(bytes / 2) - Math.floor(len / 2));
  closeSync(fd);
  const res = ckpt([
    'commit',
    '--store',
    store,
    '--step',
    String(10 + r),
    '--cwd',
    work,
    '--json',
    'state.bin',
  ]);
  middle.push(res.ms);
  middleBytes = Math.max(middleBytes, res.json.stats.writtenBytes);
}
fraction(
  'commit after 1 % of the file changed in the middle: bytes',
  middleBytes,
  fullCommitBytes,
  0.02,
  fmtBytes,
);
fraction(
  'commit after 1 % of the file changed in the middle: time',
  median(middle),
  commit['ckpt commit'],
  0.1,
  fmtMs,
);

// 5. `ckpt restore` into a directory vs copy + fsync, both from a cold cache.
const restoreCli = await sideBySide({
  'ckpt restore': (r) => {
    const to = join(base, `restored-${r}`);
    dropCaches();
    const { ms } = ckpt(['restore', 'latest', '--store', store, '--to', to]);
    rmSync(to, { recursive: true });
    return ms;
  },
  'copy + fsync': () => {
    dropCaches();
    const t = now();
    copyFsync(file, join(base, 'copy.bin'));
    const ms = now() - t;
    rmSync(join(base, 'copy.bin'));
    return ms;
  },
});
row(
  `\`ckpt restore\` of the file (${coldNote})`,
  restoreCli['ckpt restore'],
  'copy + fsync',
  restoreCli['copy + fsync'],
  1.1,
);

// 6. verify --deep and gc --deep of a store of verifyGiB vs a sequential read of its chunk files.
const big = join(base, 'big');
{
  const w = await openCheckpointer({ dir: big, keep: 100, compression: 'off' });
  for (let i = 0; i < Math.ceil(verifyGiB / scale); i++) {
    await w.save({ field: randomFloat64(bytes / 8, 1000 + i) }, { step: i });
    gc();
  }
  await w.close();
}
const chunkFiles = ['chunks', 'packs']
  .filter((dir) => existsSync(join(big, dir)))
  .flatMap((dir) => readdirSync(join(big, dir), { recursive: true, withFileTypes: true }))
  .filter((e) => e.isFile())
  .map((e) => join(e.parentPath ?? e.path, e.name));
const scratch = Buffer.allocUnsafe(64 * MiB);
const deep = await sideBySide({
  'ckpt verify --deep': () => {
    dropCaches();
    return ckpt(['verify', '--deep', '--store', big]).ms;
  },
  'ckpt gc --deep': () => {
    dropCaches();
    return ckpt(['gc', '--deep', '--store', big]).ms;
  },
  'sequential read': () => {
    dropCaches();
    const t = now();
    for (const path of chunkFiles) {
      const fd = openSync(path, 'r');
      while (readSync(fd, scratch, 0, scratch.byteLength, null) > 0);
      closeSync(fd);
    }
    return now() - t;
  },
});
for (const name of ['ckpt verify --deep', 'ckpt gc --deep']) {
  row(
    `\`${name.slice(5)}\` of a ${verifyGiB} GiB store (${coldNote}; throughput ratio)`,
    deep['sequential read'],
    'inverse',
    deep[name],
    0.8,
    'higher',
  );
  rows.at(-1)[1] = `${deep[name].toFixed(0)} ms`;
  rows.at(-1)[2] = `sequential read: ${deep['sequential read'].toFixed(0)} ms`;
}
rmSync(big, { recursive: true });

// 7. Scale: save and restore of 2, 4 and 8 GiB, each in its own process (peak RSS beyond the state).
const scaled = [];
for (const gib of scaleSizes) {
  gc();
  const dir = join(base, `scale-${gib}`);
  const child = (mode) =>
    JSON.parse(
      execFileSync(process.execPath, [
        '--expose-gc',
        join(here, 'scale-child.mjs'),
        mode,
        String(gib),
        dir,
      ]).toString(),
    );
  const saved = child('save');
  const restored = child('restore');
  scaled.push({
    gib,
    saveMs: saved.ms,
    restoreMs: restored.ms,
    overheadMiB: Math.max(saved.overheadMiB, restored.overheadMiB),
  });
  rmSync(dir, { recursive: true, force: true });
}
if (scaled.length > 0) {
  const first = scaled[0];
  const last = scaled.at(-1);
  for (const what of ['save', 'restore']) {
    const x = last[`${what}Ms`] / first[`${what}Ms`];
    rows.push([
      `${what} ${last.gib} GiB / ${first.gib} GiB`,
      scaled.map((s) => `${s.gib} GiB: ${s[`${what}Ms`].toFixed(0)} ms`).join(', '),
      '',
      x.toFixed(2),
      '≤ 4.2',
      x <= 4.2 ? 'yes' : '**no**',
    ]);
  }
  const worst = Math.max(...scaled.map((s) => s.overheadMiB));
  rows.push([
    'ckpt memory beyond the state (peak RSS)',
    scaled.map((s) => `${s.gib} GiB: ${s.overheadMiB.toFixed(0)} MiB`).join(', '),
    '',
    '',
    '< 256 MiB',
    worst < 256 ? 'yes' : '**no**',
  ]);
}
rmSync(base, { recursive: true, force: true });

printTable(
  `The store at disk speed (${(bytes / GiB).toFixed(2)} GiB, medians of ${rounds} alternating rounds; ratio = ckpt / the other unless noted)`,
  ['goal', 'ckpt', 'the other', 'ratio', 'goal', 'met'],
  rows,
);
console.log(`\nSave writes ${fmtBytes(saveWritten)}; commit writes ${fmtBytes(fullCommitBytes)}.`);
