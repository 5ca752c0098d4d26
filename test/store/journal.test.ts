import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendJournal, readJournal } from '../../src/store/index.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs();
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
    await appendJournal(root, 'commit', { seq: 1, note: 'line\nbreak ✓' });
    await appendJournal(root, 'prune', { removed: [1, 2] });
    await appendJournal(root, 'gc');
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
    await appendJournal(root, 'first');
    await appendJournal(root, 'second');
    appendFileSync(journalFile(root), '0123456789abcdef {"time":"2024-01-01T00:00:00.000Z","ty');

    const torn = await readJournal(root);
    expect(torn.events.map((e) => e.type)).toEqual(['first', 'second']);
    expect(torn.tornTail).toBe(true);
    expect(torn.damagedLines).toEqual([]);

    await appendJournal(root, 'third', { n: 3 });
    const after = await readJournal(root);
    expect(after.events.map((e) => e.type)).toEqual(['first', 'second', 'third']);
    expect(after.events[2]).toMatchObject({ n: 3 });
    expect(after.tornTail).toBe(false);
    // The fragment did not swallow the new line: it starts on a line of its own.
    expect(readFileSync(journalFile(root), 'utf8').split('\n').at(-2)).toMatch(/^[0-9a-f]{16} \{.*"third"/);
  });

  it('reports a damaged middle line by number and keeps the others', async () => {
    const root = tempDir();
    for (const type of ['one', 'two', 'three', 'four']) await appendJournal(root, type);
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
    await appendJournal(root, 'one');
    appendFileSync(journalFile(root), 'abc\n');
    appendFileSync(journalFile(root), '0123456789abcdef {"type":"forged"}\n');
    await appendJournal(root, 'two');
    const { events, damagedLines, tornLines } = await readJournal(root);
    expect(events.map((e) => e.type)).toEqual(['one', 'two']);
    expect(tornLines).toEqual([2]);
    expect(damagedLines).toEqual([3]);
  });
});
