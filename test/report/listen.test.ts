/**
 * Where `ckpt ui` listens, and what it refuses: it never replaces a file, a directory or a live
 * dashboard's socket at `--socket PATH` (only a socket nobody answers on, left by a dashboard
 * that died), and a taken port, a missing directory or a path too long for a socket are usage
 * errors naming the value and the fix, not internal errors.
 */
import { lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { startDashboard, storeSource } from '../../src/report/index.js';
import { runCkpt, startCkpt } from '../helpers/cli.js';
import { requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait-for.js';

const tmp = useTempDirs('ckpt-listen-');

/** A store with one checkpoint, in `dir`. */
function storeIn(dir: string): string {
  writeFileSync(join(dir, 'state.txt'), 'state\n');
  const store = join(dir, 'store');
  const r = runCkpt(['--store', store, 'commit', '--step', '1', 'state.txt'], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  return store;
}

describe('ckpt ui: where it listens', () => {
  beforeAll(() => requireBuild());

  it('refuses a --socket path that holds a file or a directory, and leaves it as it was', async () => {
    const dir = tmp();
    const store = storeIn(dir);
    const file = join(dir, 'precious.txt');
    writeFileSync(file, 'precious\n');
    mkdirSync(join(dir, 'sub'));
    for (const path of [file, join(dir, 'sub')]) {
      const error = await startDashboard({ source: storeSource(store), socket: path }).catch((e) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain(path);
    }
    expect(readFileSync(file, 'utf8')).toBe('precious\n');
    expect(statSync(join(dir, 'sub')).isDirectory()).toBe(true);
    // The CLI says so in a line with the fix, exit 2, no stack.
    const r = runCkpt(['--store', store, 'ui', '--socket', file], { cwd: dir });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain('exists and is not a socket');
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    expect(readFileSync(file, 'utf8')).toBe('precious\n');
  });

  it("does not take over a live dashboard's socket, and replaces one whose server died", async () => {
    const dir = tmp();
    const store = storeIn(dir);
    const socket = join(dir, 'ui.sock');
    const first = await startDashboard({ source: storeSource(store), socket });
    try {
      const again = await startDashboard({ source: storeSource(store), socket }).catch((e) => e);
      expect(again).toBeInstanceOf(UsageError);
      expect((again as Error).message).toMatch(/already listens/);
    } finally {
      await first.close();
    }
    expect(() => lstatSync(socket)).toThrow(/ENOENT/); // removed on close

    // A dashboard killed outright leaves its socket behind: the next one takes the path.
    const killed = startCkpt(['--store', store, 'ui', '--socket', socket], { cwd: dir });
    await waitFor(() => killed.output().stdout.includes('serving on the socket'), 'the dashboard to listen');
    process.kill(killed.pid, 'SIGKILL');
    await killed.exited;
    expect(lstatSync(socket).isSocket()).toBe(true);
    const next = await startDashboard({ source: storeSource(store), socket });
    try {
      expect(statSync(socket).mode & 0o777).toBe(0o600);
    } finally {
      await next.close();
    }
  }, 60_000);

  it('names a taken port, a missing directory and a path too long for a socket, each with the fix', async () => {
    const dir = tmp();
    const store = storeIn(dir);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const cases: [string[], RegExp][] = [
        [['--port', String(port)], new RegExp(`Port ${port} on 127.0.0.1 is in use`)],
        [['--socket', join(dir, 'no', 'such', 'ui.sock')], /there is no directory/],
        [
          ['--socket', join(dir, `${'b'.repeat(120)}.sock`)],
          /bytes long; a Unix socket's path can have at most 107/,
        ],
      ];
      for (const [args, message] of cases) {
        const r = runCkpt(['--store', store, 'ui', ...args], { cwd: dir, timeoutMs: 20_000 });
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      }
    } finally {
      taken.close();
    }
  }, 60_000);
});
