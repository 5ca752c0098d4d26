/**
 * `ckpt run --capture`: files are committed only when complete (unchanged for --settle and no
 * longer open for writing by the job), and a torn newer file a crashed program left behind is
 * set aside on restart instead of being committed or shown to the program.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../../src/store/index.js';
import type { JobStatus } from '../../src/supervisor/index.js';
import { ckptJson, cleanEnv, runCkpt, startCkpt, useCkptRuns } from '../helpers/cli.js';
import { readEvents } from '../helpers/events.js';
import { REPO_ROOT } from '../helpers/repo.js';

const WRITER = join(REPO_ROOT, 'test', 'fixtures', 'supervisor', 'slow-writer.mjs');
/** Piece `i` of a file as slow-writer.mjs writes it. */
const piece = (name: string, i: number): Buffer => Buffer.alloc(65536, `${name}:${i};`);

interface LsJson {
  checkpoints: Array<{ seq: number; step: number; time: string; ok: boolean }>;
}
interface ShowJson {
  entries: Array<{ type: string; path: string; size: number }>;
}
interface WriterEvent {
  t: number;
  event: 'opened' | 'closed' | 'crashing' | 'restarted';
  files?: string[];
  aSize?: number;
  step?: string;
}

describe('ckpt run --capture', () => {
  const { tempDir, workspace } = useCkptRuns('ckpt-capture-');

  it('commits a slowly written file once it is closed and settled, and sets a torn one aside after a crash', async () => {
    const { work, store } = workspace();
    const events = join(work, 'writer.log');
    const run = startCkpt(
      [
        '--store',
        store,
        'run',
        '--capture',
        'out/*.chk',
        '--settle',
        '0.5s',
        '--backoff',
        '0.1s',
        '--max-restarts',
        '1',
        '--',
        process.execPath,
        WRITER,
      ],
      { cwd: work, env: cleanEnv({ SLOW_LOG: events, SLOW_WAIT_MS: '2000' }) },
    );
    const end = await run.exited;
    expect(end.code, end.stderr).toBe(0);
    const log = readEvents<WriterEvent>(events);
    expect(log.map((e) => e.event)).toEqual(['opened', 'closed', 'crashing', 'restarted']);
    const [opened, closed, crashing, restarted] = log as [WriterEvent, WriterEvent, WriterEvent, WriterEvent];
    expect(closed.t - opened.t).toBeGreaterThanOrEqual(1900);

    // Exactly one checkpoint: made after a.chk was closed, while the program still ran.
    const ls = ckptJson<LsJson>(['--store', store, 'ls'], { cwd: work });
    expect(ls.checkpoints).toHaveLength(1);
    const only = ls.checkpoints[0]!;
    expect(only.ok).toBe(true);
    expect(Date.parse(only.time)).toBeGreaterThanOrEqual(closed.t);
    expect(Date.parse(only.time)).toBeLessThan(crashing.t);
    const complete = Buffer.concat([piece('a', 0), piece('a', 1), piece('a', 2)]);
    const shown = ckptJson<ShowJson>(['--store', store, 'show', String(only.seq)], { cwd: work });
    expect(shown.entries.map((e) => [e.type, e.path, e.size])).toEqual([
      ['file', 'out/a.chk', complete.length],
    ]);
    const restored = tempDir();
    const restore = runCkpt(['--store', store, 'restore', String(only.seq), '--to', restored], { cwd: work });
    expect(restore.code, restore.stderr).toBe(0);
    expect(readFileSync(join(restored, 'out', 'a.chk')).equals(complete)).toBe(true);

    // The restarted program saw only the checkpoint's files; the torn b.chk was kept aside.
    expect(restarted).toMatchObject({ files: ['a.chk'], aSize: complete.length, step: String(only.step) });
    expect(readdirSync(join(work, 'out'))).toEqual(['a.chk']);
    expect(readFileSync(join(work, 'out', 'a.chk')).equals(complete)).toBe(true);
    const asides = readdirSync(join(work, '.ckpt-aside'));
    expect(asides).toHaveLength(1);
    expect(readFileSync(join(work, '.ckpt-aside', asides[0]!, 'out', 'b.chk')).equals(piece('b', 0))).toBe(
      true,
    );
    const setAside = (await readJournal(store)).events.filter((e) => e.type === 'set-aside');
    expect(setAside).toMatchObject([{ seq: only.seq, files: ['out/b.chk'] }]);

    const status = ckptJson<JobStatus>(['--store', store, 'status'], { cwd: work });
    expect(status.state).toBe('finished');
    expect(status.segments.map((s) => [s.resumeFrom, s.exit])).toMatchObject([
      [null, { code: 1, signal: null }],
      [
        { seq: only.seq, step: only.step, stepKind: 'capture-counter' },
        { code: 0, signal: null },
      ],
    ]);
  });
});
