// What a commit writes after each kind of change to a large file: `ckpt commit` of one file
// (BENCH_GIB, default 1 GiB of random bytes), then a series of changes, each committed, and the
// newest checkpoint restored and compared byte for byte. Bytes written are the store's growth
// (`du`), so manifests count too. Usage: node bench/file-changes.mjs
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDir, fmtMs, GiB, MiB, now, printTable } from './lib.mjs';

const CKPT = fileURLToPath(new URL('../bin/ckpt', import.meta.url));
const size = Math.round(Number(process.env.BENCH_GIB ?? 1) * GiB);
const base = benchDir('bench-changes-');
const file = join(base, 'state.bin');
const store = join(base, 'store');

const random = (n) => randomFillSync(Buffer.allocUnsafe(n));
const storeBytes = () => Number(execFileSync('du', ['-sb', store]).toString().split('\t')[0]);
let step = 0;
const rows = [];
function commit(change) {
  const before = step === 0 ? 0 : storeBytes();
  const t = now();
  execFileSync(CKPT, ['commit', '--store', store, '--cwd', base, '--step', String(++step), 'state.bin']);
  const ms = now() - t;
  const written = storeBytes() - before;
  rows.push([
    change,
    fmtMs(ms),
    `${(written / MiB).toFixed(1)} MiB`,
    `${((100 * written) / size).toFixed(2)} %`,
  ]);
}
function patch(at, length) {
  const fd = openSync(file, 'r+');
  writeSync(fd, random(length), 0, length, at);
  closeSync(fd);
}
function splice(at, remove, insert) {
  const old = readFileSync(file);
  writeFileSync(file, Buffer.concat([old.subarray(0, at), insert, old.subarray(at + remove)]));
}

try {
  writeFileSync(file, random(size));
  commit('first commit');
  commit('unchanged');
  for (let k = 0; k < 3; k++) {
    patch(Math.floor(size / 2) + k * 7_777_777 - Math.floor(size / 200), Math.floor(size / 100));
    commit(`1 % rewritten in the middle (${k + 1} of 3)`);
  }
  for (let k = 0; k < 10; k++) patch(Math.floor((k * size) / 10) + 12_345, Math.floor(size / 1000));
  commit('0.1 % rewritten in each of 10 places');
  splice(Math.floor(size / 3), 0, random(4096));
  commit('4 KiB inserted at 1/3');
  splice(Math.floor(size / 4), 10_000, Buffer.alloc(0));
  commit('10 000 B deleted at 1/4');
  splice(Math.floor(size / 5), 0, random(MiB + 1));
  commit('1 MiB + 1 B inserted at 1/5');
  writeFileSync(file, random(4096), { flag: 'a' });
  commit('4 KiB appended');
  execFileSync(CKPT, ['restore', 'latest', '--store', store, '--to', join(base, 'out')]);
  const digest = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
  const same = digest(file) === digest(join(base, 'out', 'state.bin'));
  printTable(
    `What a commit writes after each change (${(size / GiB).toFixed(2)} GiB file, random bytes)`,
    ['change', 'commit time', 'written', 'of the file'],
    rows,
  );
  console.log(`\nThe newest checkpoint restored byte-identical to the file: ${same ? 'yes' : 'NO'}`);
  if (!same) process.exitCode = 1;
} finally {
  rmSync(base, { recursive: true, force: true });
}
