// What trusting no stored chunk blindly costs a fresh `ckpt commit` process (docs/format.md,
// "Trust"). A chunk a committed checkpoint holds is reused unread only if its pack has not changed
// since a checkpoint naming it was committed (ctime older than that manifest); a file is not read at
// all if it is unchanged since the previous checkpoint. Each round commits the same bytes four ways:
//   first        into a new store;
//   unchanged    again, the file untouched (the file is not read);
//   touched      again after `touch` (the file is read and cut; its chunks are vouched for, not re-read);
//   distrusted   again after touch and chmod of every pack (each reused chunk is read and hashed);
// and times cp + sync of the file beside them.
//   node bench/dedup.mjs      (BENCH_GIB=0.5 by default; BENCH_ROUNDS=3)
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchDir, fmtMs, fmtRate, GiB, median, now, printTable, randomFloat64 } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bytes = Math.round(Number(process.env.BENCH_GIB ?? '0.5') * GiB);
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const base = benchDir('bench-dedup-');
const cli = join(here, '..', 'bin', 'ckpt');
const file = join(base, 'state.bin');
const data = new Uint8Array(randomFloat64(bytes / 8).buffer);
const fd = openSync(file, 'w');
writeSync(fd, data);
fsyncSync(fd);
closeSync(fd);

const commit = (store, step) => {
  const t = now();
  const out = execFileSync(process.execPath, [
    cli,
    'commit',
    '--store',
    store,
    '--step',
    String(step),
    '--compress',
    'off',
    '--cwd',
    base,
    '--json',
    'state.bin',
  ]);
  return { ms: now() - t, written: JSON.parse(out.toString()).stats.writtenBytes };
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cols = { first: [], unchanged: [], touched: [], distrusted: [], copy: [] };
const written = { first: 0, unchanged: 0, touched: 0, distrusted: 0 };
console.log(
  `dedup trust benchmark: ${(bytes / GiB).toFixed(2)} GiB file of random bytes, ${rounds} rounds, in ${base}`,
);
// A file changed within 2 s of a commit is always read again (the racy-clean margin): let it age.
await sleep(2100);
for (let i = 0; i < rounds; i++) {
  const store = join(base, `store-${i}`);
  const record = (key, r) => {
    cols[key].push(r.ms);
    written[key] = Math.max(written[key], r.written);
  };
  record('first', commit(store, 1));
  record('unchanged', commit(store, 2));
  const later = new Date();
  utimesSync(file, later, later);
  record('touched', commit(store, 3));
  for (const name of readdirSync(join(store, 'packs'))) chmodSync(join(store, 'packs', name), 0o600);
  utimesSync(file, new Date(), new Date());
  record('distrusted', commit(store, 4));
  const copy = join(base, `copy-${i}.bin`);
  const tc = now();
  execFileSync('sh', ['-c', `cp "${file}" "${copy}" && sync "${copy}"`]);
  cols.copy.push(now() - tc);
  rmSync(copy);
  rmSync(store, { recursive: true });
  await sleep(2100);
}
const m = (k) => median(cols[k]);
const row = (label, key) => [
  label,
  fmtMs(m(key)),
  fmtRate(bytes, m(key)),
  `${(m(key) / m('first')).toFixed(2)}x`,
  key in written ? `${(written[key] / 2 ** 20).toFixed(1)} MiB` : '',
];
printTable(
  `Commits of the same ${(bytes / GiB).toFixed(2)} GiB file by fresh \`ckpt commit\` processes (medians of ${rounds} rounds)`,
  ['commit', 'time', 'throughput', 'vs first commit', 'written'],
  [
    row('first, into a new store', 'first'),
    row('again, file unchanged (not read)', 'unchanged'),
    row('again after `touch` (file read; chunks vouched for, not re-read)', 'touched'),
    row('again after `touch` and `chmod` of the packs (every chunk re-read and hashed)', 'distrusted'),
    row('cp + sync of the file', 'copy'),
  ],
);
rmSync(base, { recursive: true, force: true });
