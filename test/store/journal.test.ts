import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendJournal,
  journalEventsOf,
  knownJournalEvent,
  knownJournalEvents,
  readJournal,
} from '../../src/store/index.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
/** The framing is the same for every event: these tests also write events ckpt never writes. */
const appendRaw = appendJournal as unknown as (
  root: string,
  type: string,
  fields?: Record<string, unknown>,
) => Promise<void>;
const journalFile = (root: string): string => join(root, 'journal.log');

describe('appendJournal / readJournal', () => {
  it('reads a missing journal as empty', async () => {
    expect(await readJournal(tempDir())).toEqual({
      events: [],
      damagedLines: [],
      tornLines: [],
      tornTail: false,
    });
  });

  it('appends checksummed lines and reads them back in order', async () => {
    const root = tempDir();
    await appendRaw(root, 'commit', { seq: 1, note: 'line\nbreak ✓' });
    await appendRaw(root, 'prune', { removed: [1, 2] });
    await appendRaw(root, 'gc');
    const lines = readFileSync(journalFile(root), 'utf8').split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^[0-9a-f]{16} \{"time":"[^"]+","type":"commit"/);
    const { events, damagedLines, tornTail } = await readJournal(root);
    expect(events.map((e) => e.type)).toEqual(['commit', 'prune', 'gc']);
    expect(events[0]).toMatchObject({ seq: 1, note: 'line\nbreak ✓' });
    expect(events[1]).toMatchObject({ removed: [1, 2] });
    expect(Date.parse(events[2]!.time)).not.toBeNaN();
    expect(damagedLines).toEqual([]);
    expect(tornTail).toBe(false);
  });

  it('tolerates a torn last line, and the next append is still readable', async () => {
    const root = tempDir();
    await appendRaw(root, 'first');
    await appendRaw(root, 'second');
    appendFileSync(journalFile(root), '0123456789abcdef {"time":"2024-01-01T00:00:00.000Z","ty');

    const torn = await readJournal(root);
    expect(torn.events.map((e) => e.type)).toEqual(['first', 'second']);
    expect(torn.tornTail).toBe(true);
    expect(torn.damagedLines).toEqual([]);

    await appendRaw(root, 'third', { n: 3 });
    const after = await readJournal(root);
    expect(after.events.map((e) => e.type)).toEqual(['first', 'second', 'third']);
    expect(after.events[2]).toMatchObject({ n: 3 });
    expect(after.tornTail).toBe(false);
    // The fragment did not swallow the new line: it starts on a line of its own.
    expect(readFileSync(journalFile(root), 'utf8').split('\n').at(-2)).toMatch(/^[0-9a-f]{16} \{.*"third"/);
  });

  it('reports a damaged middle line by number and keeps the others', async () => {
    const root = tempDir();
    for (const type of ['one', 'two', 'three', 'four']) await appendRaw(root, type);
    const lines = readFileSync(journalFile(root), 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"two"', '"tw0"');
    lines[2] = `ffffffffffffffff${lines[2]!.slice(16)}`;
    writeFileSync(journalFile(root), lines.join('\n'));

    const { events, damagedLines, tornTail } = await readJournal(root);
    expect(events.map((e) => e.type)).toEqual(['one', 'four']);
    expect(damagedLines).toEqual([2, 3]);
    expect(tornTail).toBe(false);
  });

  it('tells a line cut short by a killed writer (torn) from a whole line whose bytes changed (damaged)', async () => {
    const root = tempDir();
    await appendRaw(root, 'one');
    appendFileSync(journalFile(root), 'abc\n');
    appendFileSync(journalFile(root), '0123456789abcdef {"type":"forged"}\n');
    await appendRaw(root, 'two');
    const { events, damagedLines, tornLines } = await readJournal(root);
    expect(events.map((e) => e.type)).toEqual(['one', 'two']);
    expect(tornLines).toEqual([2]);
    expect(damagedLines).toEqual([3]);
  });
});

describe('knownJournalEvent: every event is checked against its type on read', () => {
  const commit = {
    time: '2026-12-02T11:00:00.000Z',
    type: 'commit',
    seq: 1,
    step: 5,
    bytes: 9,
    writtenBytes: 9,
    durationMs: 3,
  };
  const start = {
    time: '2026-12-02T11:00:00.000Z',
    type: 'start',
    writer: { host: 'n1', pid: 7, slurm: { jobId: '88', restartCount: 1 } },
    command: ['x'],
    restarts: 0,
    resumeFrom: { seq: 1, step: 5, stepKind: 'program', committed: '2026-12-02T10:59:00.000Z' },
    skipped: [],
  };

  it('gives a well-formed event, extra fields and all', () => {
    expect(knownJournalEvent(commit)).toBe(commit);
    expect(knownJournalEvent({ ...start, newerField: { any: 1 } })?.type).toBe('start');
    expect(knownJournalEvent({ ...start, resumeFrom: null })?.type).toBe('start');
  });

  it('leaves out unknown types, also names of Object.prototype', () => {
    for (const type of ['first', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(knownJournalEvent({ time: commit.time, type })).toBeUndefined();
    }
  });

  it('leaves out a known type whose fields do not check out, at any depth', () => {
    const bad = [
      { ...commit, seq: '1' },
      { ...commit, durationMs: null },
      { ...commit, step: undefined },
      { ...start, writer: { host: 'n1', pid: '7' } },
      { ...start, writer: { ...start.writer, slurm: { jobId: 88 } } },
      { ...start, command: ['x', 1] },
      { ...start, resumeFrom: [] },
      { ...start, skipped: [{ seq: 1 }] },
      { time: commit.time, type: 'stop', reason: { kind: 'nap' }, pid: 1 },
      { time: commit.time, type: 'stop', reason: { kind: 'signal', signal: 'SIGTERM' }, pid: 1 },
      { time: commit.time, type: 'requeue', cause: 'time-limit', target: '1', attempt: 1, ok: 'yes' },
    ];
    for (const event of bad) expect(knownJournalEvent(event), JSON.stringify(event)).toBeUndefined();
  });

  it('lets readers pick the checked events of one type from a real journal with hostile lines', async () => {
    const root = tempDir();
    await appendJournal(root, 'checkpoint-failing', { seq: 3, why: 'exit 1 at start', pid: 1 });
    await appendRaw(root, 'checkpoint-failing', { seq: 'all', why: 'x', pid: 1 });
    await appendRaw(root, 'from-a-newer-ckpt', { seq: 4 });
    const { events } = await readJournal(root);
    expect(events).toHaveLength(3);
    expect(knownJournalEvents(events)).toHaveLength(1);
    expect(journalEventsOf(events, 'checkpoint-failing')).toMatchObject([{ seq: 3, why: 'exit 1 at start' }]);
    expect(journalEventsOf(events, 'commit')).toEqual([]);
  });
});
