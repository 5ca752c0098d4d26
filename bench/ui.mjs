// The dashboard on a large store (docs/performance.md "Dashboard"): a store of 10 000 checkpoints
// and 100 000 journal lines, `ckpt ui` started on it, and its page opened in Debian's Chromium
// (playwright-core). Measures how long `ckpt ui` takes to be ready, the first paint of the page
// (navigation until the checkpoints table is drawn; round 1 includes trading the token for the
// cookie), a change shown live, and the server's peak memory (VmHWM).
//   npm run build && node bench/ui.mjs
// BENCH_UI_CHECKPOINTS=10000 and BENCH_UI_LINES=100000 set the sizes, BENCH_ROUNDS=3 the page loads.
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { acquireLease, Store } from '../dist/store/index.js';
import { benchDir, median, now, printTable } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ckptBin = join(here, '..', 'bin', 'ckpt');
const checkpoints = Number(process.env.BENCH_UI_CHECKPOINTS ?? '10000');
const lines = Number(process.env.BENCH_UI_LINES ?? '100000');
const rounds = Number(process.env.BENCH_ROUNDS ?? '3');
const base = benchDir('bench-ui-');
const storeDir = join(base, 'store');

// 1. The store: real commits (each a manifest and a journal line), then older journal lines of
//    the checkpoints a `keep` pruned, so that the journal holds `lines` lines.
let t = now();
const store = await Store.open(storeDir, { create: true });
const lease = await acquireLease(store.root);
for (let i = 1; i <= checkpoints; i++) {
  await store.commit(lease, {
    step: i * 100,
    entries: [],
    meta: {},
    stats: { bytes: 1_000_000 + i, writtenBytes: 10_000 + (i % 100) * 100, chunks: 1, newChunks: 1 },
    startedAt: performance.now() - 5 - (i % 10),
  });
}
await lease.release();
const old = [];
const from = Date.now() - 86_400_000;
for (let i = 0; i < lines - checkpoints; i++) {
  const time = new Date(from + i * 500).toISOString();
  old.push(
    JSON.stringify({ time, type: 'commit', seq: -i, step: i, bytes: 1e6, writtenBytes: 1e4, durationMs: 5 }),
  );
}
const journal = join(storeDir, 'journal.log');
const mine = readFileSync(journal, 'utf8');
rmSync(journal);
appendFileSync(journal, `${old.join('\n')}\n${mine}`);
console.log(
  `store of ${checkpoints} checkpoints and ${readFileSync(journal, 'utf8').split('\n').length - 1} journal lines made in ${((now() - t) / 1000).toFixed(1)} s, in ${storeDir}`,
);

// 2. `ckpt ui` on it.
t = now();
const ui = spawn(process.execPath, [ckptBin, '--store', storeDir, 'ui'], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
const url = await new Promise((resolve, reject) => {
  ui.stdout.on('data', (d) => {
    out += d;
    const m = /http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]+/.exec(out);
    if (m) resolve(m[0]);
  });
  ui.on('exit', (code) => reject(new Error(`ckpt ui exited ${code}: ${out}`)));
});
const readyMs = now() - t;

// 3. The page, `rounds` times, in a fresh tab each.
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const paints = [];
let page;
for (let r = 0; r < rounds; r++) {
  page = await context.newPage();
  t = now();
  await page.goto(url);
  await page.locator('table.checkpoints tbody tr').first().waitFor({ timeout: 30_000 });
  paints.push(now() - t);
  if (r < rounds - 1) await page.close();
}
// 4. A commit while the page is open, until it is shown.
const before = Number(await page.locator('#app').getAttribute('data-checkpoints'));
const store2 = await Store.open(storeDir);
const lease2 = await acquireLease(store2.root);
t = now();
await store2.commit(lease2, {
  step: 1,
  entries: [],
  meta: {},
  stats: { bytes: 1, writtenBytes: 1, chunks: 1, newChunks: 1 },
  startedAt: performance.now(),
});
await lease2.release();
for (;;) {
  if (Number(await page.locator('#app').getAttribute('data-checkpoints')) === before + 1) break;
  await new Promise((r) => setTimeout(r, 20));
}
const liveMs = now() - t;
const status = readFileSync(`/proc/${ui.pid}/status`, 'utf8');
const peakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
await browser.close();
ui.kill('SIGTERM');
rmSync(base, { recursive: true, force: true });

printTable(
  `ckpt ui on a store of ${checkpoints} checkpoints and ${lines} journal lines (${rounds} page loads)`,
  ['what', 'measured', 'goal', 'met'],
  [
    ['`ckpt ui` ready (the store read once)', `${(readyMs / 1000).toFixed(2)} s`, '', ''],
    [
      'first paint, round 1 (with the token traded for the cookie)',
      `${paints[0].toFixed(0)} ms`,
      '< 1 s',
      paints[0] < 1000 ? 'yes' : '**no**',
    ],
    [
      `first paint, median of rounds 2-${rounds}`,
      `${median(paints.slice(1)).toFixed(0)} ms`,
      '< 1 s',
      median(paints.slice(1)) < 1000 ? 'yes' : '**no**',
    ],
    ['a commit shown on the open page', `${liveMs.toFixed(0)} ms`, '< 2 s', liveMs < 2000 ? 'yes' : '**no**'],
    [
      'server peak memory (VmHWM)',
      `${peakMiB.toFixed(0)} MiB`,
      '< 200 MB',
      peakMiB * 1.048576 < 200 ? 'yes' : '**no**',
    ],
  ],
);
