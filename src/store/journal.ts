import { constants, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, IntegrityError, wrapIoError } from '../errors.js';
import { FILE_MODE, fsyncDir } from './atomic-write.js';
import { sha256Hex } from './hash.js';
import type { JournalEventName, JournalPayload, RawJournalEvent } from './journal-events.js';
import { JOURNAL_FILE } from './layout.js';
import { describeKind, readStoreFile } from './safe-fs.js';

/** The largest journal a reader loads (about ten million events). */
export const MAX_JOURNAL_BYTES = 2 ** 31;
/** O_NOFOLLOW: a planted `journal.log -> ~/.bashrc` is refused, never appended to. */
const APPEND_FLAGS =
  constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * One journal event as read: `time` and `type` are strings, nothing else is checked yet. Read its
 * fields through {@link knownJournalEvent}, which checks them against its type.
 */
export type JournalEvent = RawJournalEvent;

/** What {@link readJournal} found: the events of whole lines, and which lines were not. */
export interface JournalReadResult {
  events: JournalEvent[];
  /** Whole lines whose bytes changed (bit rot): real damage. */
  damagedLines: number[];
  /** Lines cut short by a killed writer (a prefix of a line), followed by later appends: harmless. */
  tornLines: number[];
  tornTail: boolean;
  /** Why the journal could not be read at all (a symlink or FIFO in its place), if so. */
  unreadable?: string;
}

const CHECK_HEX = 16;
const EVENT_HEAD = '{"time":"';

/**
 * Appends an event to the store's journal, its fields typed by its name (journal-events.ts). Each
 * line is `<16 hex of SHA-256(json)> <json>`, so a reader can tell a whole line from a torn or
 * damaged one. The line is fdatasync'ed. Throws (wrapped) when the journal cannot take it.
 */
export async function appendJournal<K extends JournalEventName>(
  root: string,
  type: K,
  fields: JournalPayload<K>,
): Promise<void> {
  const event: JournalEvent = { time: new Date().toISOString(), type, ...(fields as object) };
  const json = JSON.stringify(event);
  const line = `${sha256Hex(json).slice(0, CHECK_HEX)} ${json}\n`;
  const path = join(root, JOURNAL_FILE);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(path, APPEND_FLAGS, FILE_MODE).catch(async (error: unknown) => {
      if (errnoCode(error) !== 'ELOOP') throw error;
      throw new IntegrityError(`The journal \`${path}\` is a symlink: refusing to append to it.`, {
        hint: 'ckpt never creates symlinks in a store. Remove the link (rm, not rm -r).',
      });
    });
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new IntegrityError(`The journal \`${path}\` is ${describeKind(stat)}, not a regular file.`, {
        hint: 'Remove it; ckpt starts a new journal.',
      });
    }
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

/**
 * Appends an event after the fact it records has happened (a prune, a gc, a set-aside): a
 * journal that cannot take the line becomes a warning of the store, not a failure of the act.
 */
export async function noteJournal<K extends JournalEventName>(
  store: { root: string; warn(warning: { code: string; message: string }): void },
  type: K,
  fields: JournalPayload<K>,
): Promise<void> {
  await appendJournal(store.root, type, fields).catch((error: unknown) => {
    store.warn({
      code: 'JOURNAL_APPEND_FAILED',
      message: `The journal line for \`${type}\` was not written: ${error instanceof Error ? error.message : String(error)}`,
    });
  });
}

/** Reads the journal, skipping (and reporting) damaged lines; a missing journal is empty. */
export async function readJournal(root: string): Promise<JournalReadResult> {
  const path = join(root, JOURNAL_FILE);
  let text: string;
  try {
    text = (await readStoreFile(path, 'journal', MAX_JOURNAL_BYTES)).toString('utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT')
      return { events: [], damagedLines: [], tornLines: [], tornTail: false };
    if (error instanceof IntegrityError) {
      return { events: [], damagedLines: [], tornLines: [], tornTail: false, unreadable: error.message };
    }
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
      line.length > CHECK_HEX + 1 &&
      line[CHECK_HEX] === ' ' &&
      sha256Hex(json).slice(0, CHECK_HEX) === line.slice(0, CHECK_HEX);
    const event = ok ? parseEvent(json) : undefined;
    if (event) {
      result.events.push(event);
    } else if (ok) {
      result.damagedLines.push(i + 1); // checksummed, but not an event (`null`, a number…)
    } else if (tornTail && i === lines.length - 1 && isTornLine(line)) {
      // the last append was cut short: tolerated
    } else if (isTornLine(line)) {
      // A writer killed mid-append leaves a prefix; the next append starts a fresh line after it.
      result.tornLines.push(i + 1);
    } else {
      result.damagedLines.push(i + 1);
    }
  });
  return result;
}

function parseEvent(json: string): JournalEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { type, time } = value as { type?: unknown; time?: unknown };
  return typeof type === 'string' && typeof time === 'string' ? (value as JournalEvent) : undefined;
}

/**
 * Whether a line is a prefix of a journal line cut short by a killed writer, not a changed one:
 * hex checksum digits, then (after the space) the start of an event object, cut at its end.
 * NOTE: JSON.parse names the position of its first error; a prefix fails only at its very end
 * ("end of JSON input", or an unterminated string), while a flipped byte fails before it.
 */
function isTornLine(line: string): boolean {
  const hex = line.slice(0, CHECK_HEX);
  if (!/^[0-9a-f]*$/.test(hex)) return false;
  if (line.length <= CHECK_HEX) return true;
  if (line[CHECK_HEX] !== ' ') return false;
  // Every event starts the same way (appendJournal puts `time` first).
  const head = line.slice(CHECK_HEX + 1, CHECK_HEX + 1 + EVENT_HEAD.length);
  if (!EVENT_HEAD.startsWith(head)) return false;
  const json = line.slice(CHECK_HEX + 1);
  try {
    JSON.parse(json);
    return false; // complete JSON whose checksum failed: changed, not cut
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    if (/end of JSON input|Unterminated string/i.test(message)) return true;
    const at = /position (\d+)/.exec(message);
    return at !== null && Number(at[1]) >= json.length;
  }
}
