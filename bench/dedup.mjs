// The cost of trusting no chunk file blindly (docs/format.md, "Trust"): a chunk that is already in
// the store is reused only if its size fits and, unless this very process wrote or verified that
// file since, its bytes hash to its name. A fresh `ckpt commit` process re-commits an unchanged
// file by reading the file and every reused chunk; a long-lived writer (`ckpt run`, the library)
// skips the chunks it vouched for.
//   node bench/dedup.mjs      (BENCH_GIB=0.5 by default; BENCH_ROUNDS=3)
// All four columns are measured in each round, alternating, on the same file system.
import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireLease, commitFiles, Store } from '../dist/store/index.js';
import { fmtMs, fmtRate, GiB, median, now, printTable, randomFloat64 } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bytes = Math.round(Number(process.env.BENCH_GIB ?? '0.5') * GiB);
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const base = mkdtempSync(join(process.env.BENCH_DIR ?? join(here, '..', '.tmp'), 'bench-dedup-'));
const cli = join(here, '..', 'bin', 'ckpt');
const file = join(base, 'state.bin');
const data = new Uint8Array(randomFloat64(bytes / 8).buffer);
const fd = openSync(file, 'w');
writeSync(fd, data);
fsyncSync(fd);
closeSync(fd);

const timeCli = (args) => {
  const t = now();
  execFileSync(process.execPath, [cli, ...args], { stdio: 'ignore' });
  return now() - t;
};
const cols = { first: [], fresh: [], trusted: [], copy: [] };
console.log(
  `dedup trust benchmark: ${(bytes / GiB).toFixed(2)} GiB file of random bytes, ${rounds} rounds, in ${base}`,
);
for (let i = 0; i < rounds; i++) {
  const store = join(base, `store-${i}`);
  cols.first.push(
    timeCli(['commit', '--store', store, '--step', '1', '--compress', 'off', '--cwd', base, 'state.bin']),
  );
  cols.fresh.push(
    timeCli(['commit', '--store', store, '--step', '2', '--compress', 'off', '--cwd', base, 'state.bin']),
  );
  // In one process: the first commit vouches for its chunks, the second reuses them unread.
  const inproc = join(base, `inproc-${i}`);
  const s = await Store.open(inproc, { create: true });
  const lease = await acquireLease(s.root);
  await commitFiles(s, lease, base, ['state.bin'], { step: 1, compression: 'off' });
  const t = now();
  await commitFiles(s, lease, base, ['state.bin'], { step: 2, compression: 'off' });
  cols.trusted.push(now() - t);
  await lease.release();
  const copy = join(base, `copy-${i}.bin`);
  const tc = now();
  execFileSync('sh', ['-c', `cp "${file}" "${copy}" && sync "${copy}"`]);
  cols.copy.push(now() - tc);
  rmSync(copy);
  rmSync(store, { recursive: true });
  rmSync(inproc, { recursive: true });
}
const m = (k) => median(cols[k]);
printTable(
  `Re-commit of an unchanged ${(bytes / GiB).toFixed(2)} GiB file (medians of ${rounds} alternating rounds)`,
  ['operation', 'time', 'throughput', 'vs first commit'],
  [
    ['first `ckpt commit` (fresh process)', fmtMs(m('first')), fmtRate(bytes, m('first')), '1.00x'],
    [
      're-commit, fresh `ckpt commit` process (reused chunks re-hashed)',
      fmtMs(m('fresh')),
      fmtRate(bytes, m('fresh')),
      `${(m('fresh') / m('first')).toFixed(2)}x`,
    ],
    [
      're-commit in the process that wrote the chunks (vouched, not re-read)',
      fmtMs(m('trusted')),
      fmtRate(bytes, m('trusted')),
      `${(m('trusted') / m('first')).toFixed(2)}x`,
    ],
    [
      'cp + sync of the file',
      fmtMs(m('copy')),
      fmtRate(bytes, m('copy')),
      `${(m('copy') / m('first')).toFixed(2)}x`,
    ],
  ],
);
rmSync(base, { recursive: true, force: true });
