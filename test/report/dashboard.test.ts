/**
 * See inside a job: `ckpt report --html` (one file, opened from disk with the network blocked)
 * and `ckpt ui` (the live dashboard) in Debian's real Chromium, and the dashboard's HTTP rules
 * (Host allowlist first, then the token; read-only; nothing served but its own routes).
 * Screenshots of each view go to test-output/ui/ for review.
 */

import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Dashboard, type StoreReport, startDashboard, storeSource } from '../../src/report/index.js';
import { runCkpt, startCkpt } from '../helpers/cli.js';
import { writeFanOut } from '../helpers/flow.js';
import { CHROMIUM, describeNeeds } from '../helpers/needs.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait-for.js';

const tmp = useTempDirs('ckpt-report-');
const SHOTS = join(REPO_ROOT, 'test-output', 'ui');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * A store with a real story: a program under `ckpt run --capture` that crashes once (exit 3),
 * is restarted from its checkpoint and finishes.
 */
function jobStore(dir: string, name = 'store'): string {
  const prog = join(dir, 'prog.sh');
  writeFileSync(
    prog,
    `#!/bin/sh
i=$(cat state.txt 2>/dev/null || echo 0)
while [ $i -lt 10 ]; do
  i=$((i+1)); echo $i > state.tmp; mv state.tmp state.txt; sleep 0.3
  if [ $i = 5 ] && [ ! -e crashed ]; then touch crashed; exit 3; fi
done
`,
  );
  chmodSync(prog, 0o755);
  const store = join(dir, name);
  const r = runCkpt(
    ['--store', store, 'run', '--every', '1s', '--capture', 'state.txt', '--keep', '100', '--', prog],
    {
      cwd: dir,
    },
  );
  if (r.code !== 0) throw new Error(`ckpt run exited ${r.code}: ${r.stderr}`);
  return store;
}

/** `GET path` against the dashboard with these headers; status and body. */
function get(
  d: Dashboard,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const { port } = d.server.address() as { port: number };
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
        if (res.headers['content-type']?.startsWith('text/event-stream')) res.destroy();
      });
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describeNeeds('the dashboard and the HTML report', CHROMIUM, () => {
  let browser: Browser;
  beforeAll(async () => {
    requireBuild();
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  }, 60_000);
  afterAll(async () => browser?.close());

  it('serves nothing to a foreign Host or without the token, and changes nothing', async () => {
    const dir = tmp();
    const store = jobStore(dir);
    const d = await startDashboard({ source: storeSource(store) });
    try {
      const port = (d.server.address() as { port: number }).port;
      const host = { Host: `127.0.0.1:${port}` };
      const auth = { ...host, Authorization: `token ${d.token}` };
      // DNS rebinding: a page whose name now points at 127.0.0.1 sends its own Host.
      expect((await get(d, '/api/report', { ...auth, Host: `evil.example:${port}` })).status).toBe(403);
      expect((await get(d, '/', { Host: 'evil.example' })).status).toBe(403);
      expect((await get(d, '/api/report', { ...auth, Host: '127.0.0.1:1' })).status).toBe(403);
      // No token, a wrong one: 401, and the page without a token holds no data of the store.
      expect((await get(d, '/api/report', host)).status).toBe(401);
      expect((await get(d, '/api/events', host)).status).toBe(401);
      expect(
        (await get(d, '/api/report', { ...host, Authorization: `token ${'0'.repeat(48)}` })).status,
      ).toBe(401);
      const login = await get(d, '/', host);
      expect(login.status).toBe(401);
      expect(login.body).not.toContain(store);
      // The token: as a header, or traded for an HttpOnly, SameSite=Strict cookie.
      const report = await get(d, '/api/report', auth);
      expect(report.status).toBe(200);
      const data = JSON.parse(report.body) as StoreReport;
      expect(data.status.segments).toHaveLength(2);
      expect((await get(d, '/login', { ...host }, 'POST')).status).toBe(401);
      const cookie = await new Promise<string>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/login', method: 'POST', headers: host },
          (res) => resolve(String(res.headers['set-cookie'] ?? '')),
        );
        req.on('error', reject);
        req.end(d.token);
      });
      expect(cookie).toMatch(/^ckpt_token=[0-9a-f]+; HttpOnly; SameSite=Strict; Path=\/$/);
      expect((await get(d, '/api/report', { ...host, Cookie: cookie.split(';')[0]! })).status).toBe(200);
      // Read-only, and nothing but its own routes.
      expect((await get(d, '/api/report', auth, 'POST')).status).toBe(405);
      expect((await get(d, '/api/report', auth, 'DELETE')).status).toBe(405);
      for (const path of [
        '/../../etc/passwd',
        '/journal.log',
        `/${store}/journal.log`,
        '/manifests/0000000001.json',
      ]) {
        const r = await get(d, path, auth);
        expect(r.status, path).toBe(404);
        expect(r.body).not.toContain('"seq"');
      }
      const page = await get(d, '/', auth);
      expect(page.status).toBe(200);
      expect(String(page.headers['content-security-policy'])).toContain("default-src 'none'");
      expect(page.headers['x-frame-options']).toBe('DENY');
    } finally {
      await d.close();
    }
  }, 60_000);

  it('listens on a Unix socket only its owner can open, for ssh -L', async () => {
    const dir = tmp();
    const store = jobStore(dir);
    const socket = join(dir, 'ui.sock');
    const d = await startDashboard({ source: storeSource(store), socket });
    try {
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            socketPath: socket,
            path: '/api/report',
            headers: { Host: 'localhost:8080', Authorization: `token ${d.token}` },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
      expect(d.url).toMatch(/^http:\/\/localhost:PORT\/#token=[0-9a-f]{48}$/);
    } finally {
      await d.close();
    }
  }, 60_000);

  it('writes a report file that shows the segments and checkpoints from disk, with every request blocked', async () => {
    const dir = tmp();
    const store = jobStore(dir);
    const file = join(dir, 'report.html');
    const r = runCkpt(['--store', store, 'report', '--html', file], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('without a network');
    const html = readFileSync(file, 'utf8');
    // Nothing to load: no external script, style sheet, image or frame.
    expect(html).not.toMatch(/<(script|img|iframe)[^>]+src=|<link[^>]+href=|url\(\s*['"]?https?:/i);
    const status = JSON.parse(runCkpt(['--store', store, 'status', '--json'], { cwd: dir }).stdout);
    const { checkpoints } = JSON.parse(runCkpt(['--store', store, 'ls', '--json'], { cwd: dir }).stdout) as {
      checkpoints: unknown[];
    };
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      requests.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`file://${file}`);
    await page.locator('.segment').first().waitFor();
    expect(await page.locator('.segment').count()).toBe(status.segments.length);
    expect(await page.locator('[data-outcome="crash"]').count()).toBe(1);
    expect(await page.locator('[data-outcome="finished"]').count()).toBe(1);
    expect(await page.locator('table.checkpoints tbody tr').count()).toBe(checkpoints.length);
    expect(await page.locator('.cp-mark').count()).toBe(checkpoints.length);
    expect(await page.locator('.u-wrap canvas, .uplot canvas').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#summary').textContent()).toContain('finished');
    expect(await page.locator('.why').textContent()).toMatch(/resumes from #\d+/);
    await page.screenshot({ path: join(SHOTS, 'report-store.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await context.close();
  }, 90_000);

  it('reports a directory of stores (a job array) as a table of jobs, then each job', async () => {
    const dir = tmp();
    const runs = join(dir, 'runs');
    mkdirSync(runs);
    for (const a of [0, 1]) {
      const work = join(dir, `work-${a}`);
      mkdirSync(work);
      jobStore(work, join('..', 'runs', `store-${a}`));
    }
    const file = join(dir, 'array.html');
    expect(runCkpt(['--store', runs, 'report', '--html', file], { cwd: dir }).code).toBe(0);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`file://${file}`);
    await page.locator('table.jobs tbody tr').first().waitFor();
    expect(await page.locator('table.jobs tbody tr').allInnerTexts()).toEqual([
      expect.stringMatching(/^store-0\s+finished\s+2\s+1\s+\d+/),
      expect.stringMatching(/^store-1\s+finished\s+2\s+1\s+\d+/),
    ]);
    expect(await page.locator('section.store').count()).toBe(2);
    await page.screenshot({ path: join(SHOTS, 'report-directory.png'), fullPage: true });
    await page.close();
  }, 90_000);

  it('ckpt ui: the page shows the job and a commit made meanwhile appears within 2 s', async () => {
    const dir = tmp();
    const store = jobStore(dir);
    const ui = startCkpt(['--store', store, 'ui'], { cwd: dir });
    try {
      const url = await waitFor(
        () => /http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]+/.exec(ui.output().stdout)?.[0],
        'ckpt ui to print its address',
        {
          timeoutMs: 15_000,
        },
      );
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(url);
      await page.locator('.segment').first().waitFor({ timeout: 10_000 });
      // The token left the address bar once traded for the cookie.
      expect(page.url()).not.toContain('token');
      const before = Number(await page.locator('#app').getAttribute('data-checkpoints'));
      await page.screenshot({ path: join(SHOTS, 'ui-store.png'), fullPage: true });
      writeFileSync(join(dir, 'extra.txt'), 'more\n');
      const committed = Date.now();
      expect(runCkpt(['--store', store, 'commit', '--step', '99', 'extra.txt'], { cwd: dir }).code).toBe(0);
      await waitFor(
        async () => Number(await page.locator('#app').getAttribute('data-checkpoints')) === before + 1,
        'the new checkpoint to appear on the page',
        { timeoutMs: 5000, everyMs: 50 },
      );
      const seenAfter = Date.now() - committed;
      expect(seenAfter).toBeLessThan(2000);
      expect(
        await page.locator('table.checkpoints tbody tr').first().locator('td').nth(1).textContent(),
      ).toBe('99');
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      ui.child.kill('SIGTERM');
      expect((await ui.exited).code).toBe(0);
    }
  }, 90_000);

  it('ckpt flow report and ckpt flow ui: steps, attempts (a retry among them) and tasks', async () => {
    const dir = tmp();
    writeFanOut(dir, [1, 2, 3], 0.05);
    // A third step that fails once, then succeeds: a retry on the timeline.
    writeFileSync(
      join(dir, 'ckpt-flow.yaml'),
      `${readFileSync(join(dir, 'ckpt-flow.yaml'), 'utf8')}  check:
    needs: [merge]
    run: if [ ! -e tried ]; then touch tried; exit 4; fi; cp total.txt checked.txt
    outputs: [checked.txt]
    retries: 1
`,
    );
    const ran = runCkpt(['flow', 'run'], { cwd: dir });
    expect(ran.code, ran.stdout + ran.stderr).toBe(0);
    const file = join(dir, 'flow.html');
    const r = runCkpt(['flow', 'report', '--html', file], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`file://${file}`);
    await page.locator('table.tasks tbody tr').first().waitFor();
    expect(await page.locator('table.steps tbody tr').count()).toBe(3);
    expect(await page.locator('table.tasks tbody tr').count()).toBe(5);
    expect(await page.locator('rect.attempt').count()).toBe(6);
    expect(await page.locator('rect.attempt[data-outcome="retry"]').count()).toBe(1);
    expect(await page.locator('rect.attempt[data-outcome="done"]').count()).toBe(5);
    expect(await page.locator('tr[data-task="check"] td').nth(2).textContent()).toBe('done');
    await page.screenshot({ path: join(SHOTS, 'report-flow.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    const ui = startCkpt(['flow', 'ui'], { cwd: dir });
    try {
      const url = await waitFor(
        () => /http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]+/.exec(ui.output().stdout)?.[0],
        'ckpt flow ui to print its address',
        { timeoutMs: 15_000 },
      );
      const live = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await live.goto(url);
      await live.locator('table.tasks tbody tr').first().waitFor({ timeout: 10_000 });
      const before = Number(await live.locator('#app').getAttribute('data-attempts'));
      // An edited input: the next run reruns gen[k=2] and what needs it, and the page follows.
      writeFileSync(join(dir, 'data', '2.txt'), 'changed\n');
      expect(runCkpt(['flow', 'run'], { cwd: dir }).code).toBe(0);
      await waitFor(
        async () => Number(await live.locator('#app').getAttribute('data-attempts')) === before + 3,
        'the new attempts to appear',
        { timeoutMs: 5000, everyMs: 50 },
      );
      await live.close();
    } finally {
      ui.child.kill('SIGTERM');
      expect((await ui.exited).code).toBe(0);
    }
  }, 90_000);
});
