import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, wrapIoError } from '../errors.js';
import { FILE_MODE, fsyncDir } from './atomic-write.js';
import { sha256Hex } from './hash.js';
import { JOURNAL_FILE } from './layout.js';

/** One journal event. `type` names it; the other fields depend on the type. */
export interface JournalEvent {
  time: string;
  type: string;
  [field: string]: unknown;
}

export interface JournalReadResult {
  events: JournalEvent[];
  /** Whole lines whose bytes changed (bit rot): real damage. */
  damagedLines: number[];
  /** Lines cut short by a killed writer (a prefix of a line), followed by later appends: harmless. */
  tornLines: number[];
  tornTail: boolean;
}

const CHECK_HEX = 16;

/**
 * Appends an event to the store's journal. Each line is `<16 hex of SHA-256(json)> <json>`, so a
 * reader can tell a whole line from a torn or damaged one. The line is fdatasync'ed.
 */
export async function appendJournal(
  root: string,
  type: string,
  fields: Record<string, unknown> = {},
): Promise<void> {
  const event: JournalEvent = { time: new Date().toISOString(), type, ...fields };
  const json = JSON.stringify(event);
  const line = `${sha256Hex(json).slice(0, CHECK_HEX)} ${json}\n`;
  const path = join(root, JOURNAL_FILE);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(path, 'a+', FILE_MODE);
    // A torn last line (killed mid-append) must not swallow this one: start on a fresh line.
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    if (size > 0) await handle.read(last, 0, 1, size - 1);
    await handle.write(size > 0 && last[0] !== 0x0a ? `\n${line}` : line);
    await handle.datasync();
    if (size === 0) await fsyncDir(root); // the journal file itself is new
  } catch (error) {
    throw wrapIoError(error, 'appending to journal', path);
  } finally {
    await handle?.close();
  }
}

/** Reads the journal, skipping (and reporting) damaged lines; a missing journal is empty. */
export async function readJournal(root: string): Promise<JournalReadResult> {
  const path = join(root, JOURNAL_FILE);
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT')
      return { events: [], damagedLines: [], tornLines: [], tornTail: false };
    throw wrapIoError(error, 'reading journal', path);
  }
  const lines = text.split('\n');
  const tornTail = lines.at(-1) !== '';
  if (!tornTail) lines.pop();
  const result: JournalReadResult = { events: [], damagedLines: [], tornLines: [], tornTail };
  lines.forEach((line, i) => {
    if (line === '') return;
    const json = line.slice(CHECK_HEX + 1);
    const ok =
      line.length > CHECK_HEX + 1 && sha256Hex(json).slice(0, CHECK_HEX) === line.slice(0, CHECK_HEX);
    if (ok) {
      result.events.push(JSON.parse(json) as JournalEvent);
    } else if (tornTail && i === lines.length - 1) {
      // the last append was cut short: tolerated
    } else if (isTruncatedJson(json)) {
      // A writer killed mid-append leaves a prefix; the next append starts a fresh line after it.
      result.tornLines.push(i + 1);
    } else {
      result.damagedLines.push(i + 1);
    }
  });
  return result;
}

/** A line that is not complete JSON is a cut-off write, not a changed one. */
function isTruncatedJson(json: string): boolean {
  try {
    JSON.parse(json);
    return false;
  } catch {
    return true;
  }
}
