import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { TargetPathError } from '../errors.js';
import {
  describeKind,
  type Manifest,
  materializeFiles,
  noteJournal,
  restoreNewest,
  type SkippedCheckpoint,
  type Store,
  storedPathUnder,
} from '../store/index.js';

/** Where set-aside files go, inside the restore directory. */
export const ASIDE_DIR = '.ckpt-aside';
/** How many sets of set-aside files are kept (older ones are deleted). */
export const KEEP_ASIDE = 3;

/** What a restore did before a start: the checkpoint it put in place, and what it passed over. */
export interface PreparedRestore {
  /** The checkpoint the program resumes from, or undefined for a fresh start. */
  manifest: Manifest | undefined;
  skipped: SkippedCheckpoint[];
  /** Files moved aside because they were newer than the checkpoint or differed from it. */
  setAside: string[];
}

function holdsFiles(m: Manifest): boolean {
  return m.entries.some((e) => e.type === 'file' || e.type === 'dir' || e.type === 'symlink');
}

/** What the restart loop tells a restore (both off by default). */
export interface PrepareOptions {
  /** Checkpoints the program keeps failing on (the restart loop): passed over, with the reason. */
  failing?: ReadonlyMap<number, string>;
  /** Set aside the program's own files even when no checkpoint is restored (they made it fail). */
  asideOwnFiles?: boolean;
}

/**
 * Makes `target` hold the newest valid checkpoint's files before a (re)start. Files the program
 * left that the checkpoint does not have (matching the capture globs), or that differ from it,
 * are moved to `.ckpt-aside/<time>/` first, so nothing is lost and nothing torn is read.
 * A checkpoint whose contents fail verification is skipped for an older one.
 */
export async function prepareRestore(
  store: Store,
  target: string,
  globs: readonly string[],
  options: PrepareOptions = {},
): Promise<PreparedRestore> {
  // Checked once, before any checkpoint is tried: a bad `.ckpt-aside` is not a checkpoint's fault.
  await checkAsideDir(target);
  let setAside: string[] = [];
  const passedOver: SkippedCheckpoint[] = [];
  const outcome = await restoreNewest(store, async (manifest) => {
    const failing = options.failing?.get(manifest.seq);
    if (failing !== undefined) {
      passedOver.push({ seq: manifest.seq, reason: `marked failing: ${failing}` });
      return undefined;
    }
    // A library checkpoint: the program restores it itself through CKPT_STORE.
    if (!holdsFiles(manifest)) return manifest;
    setAside = await setAsideStrays(target, manifest, globs);
    await materializeFiles(store.root, manifest, target);
    return manifest;
  });
  const { manifest } = outcome;
  const skipped = [...outcome.skipped, ...passedOver].sort((a, b) => b.seq - a.seq);
  if (!manifest) setAside = options.asideOwnFiles ? await setAsideAll(target, globs) : [];
  if (setAside.length > 0) {
    await noteJournal(store, 'set-aside', { seq: manifest?.seq ?? null, files: setAside });
  }
  return { manifest, skipped, setAside };
}

/** Moves every file matching the capture globs aside (a fresh start after they made the program fail). */
async function setAsideAll(target: string, globs: readonly string[]): Promise<string[]> {
  const none: Manifest = {
    format: 'ckpt-manifest',
    version: 1,
    seq: 0,
    step: 0,
    time: new Date(0).toISOString(),
    writer: { host: '', pid: 0 },
    entries: [],
    meta: {},
    stats: { bytes: 0, writtenBytes: 0, chunks: 0, newChunks: 0, durationMs: 0 },
  };
  return setAsideStrays(target, none, globs);
}

async function setAsideStrays(
  target: string,
  manifest: Manifest,
  globs: readonly string[],
): Promise<string[]> {
  const wanted = new Map<string, { size: number; mtimeMs: number }>();
  for (const e of manifest.entries) if (e.type === 'file') wanted.set(e.path, e);
  const candidates = new Set<string>(wanted.keys());
  if (globs.length > 0) {
    const found = await (await import('tinyglobby')).glob([...globs], {
      cwd: target,
      onlyFiles: true,
      dot: true,
      // A symlinked directory may lead anywhere: set-aside moves only what is really inside.
      followSymbolicLinks: false,
      ignore: [`${ASIDE_DIR}/**`],
    });
    for (const path of found) candidates.add(path);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const takenAt = Date.parse(manifest.time);
  const moved: string[] = [];
  for (const path of [...candidates].sort()) {
    if (storedPathUnder(target, join(target, path)) !== path || (await crossesSymlink(target, path)))
      continue;
    const abs = join(target, path);
    const stat = await fsp.lstat(abs).catch(() => undefined);
    if (!stat?.isFile()) continue;
    const want = wanted.get(path);
    if (want && want.size === stat.size && Math.abs(want.mtimeMs - stat.mtimeMs) < 1) continue;
    // A file the checkpoint does not have but that was last written before it was taken is an
    // older result (an earlier time directory, an old restart file), not a torn leftover: keep it.
    if (!want && stat.mtimeMs <= takenAt) continue;
    const aside = join(target, ASIDE_DIR, stamp, path);
    await fsp.mkdir(dirname(aside), { recursive: true, mode: 0o700 });
    if (await crossesSymlink(target, `${ASIDE_DIR}/${stamp}/${path}`)) continue;
    await fsp.rename(abs, aside);
    moved.push(path);
  }
  await removeEmptyParents(target, moved);
  if (moved.length > 0) await pruneAside(target);
  return moved;
}

/**
 * Removes directories that setting files aside left empty: an empty newest time directory is
 * as fatal to OpenFOAM as a torn one.
 */
async function removeEmptyParents(target: string, moved: readonly string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const path of moved) {
    for (let dir = dirname(path); dir !== '.' && dir !== '/'; dir = dirname(dir)) dirs.add(dir);
  }
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    await fsp.rmdir(join(target, dir)).catch(() => {}); // fails, as it should, if not empty
  }
}

/** The name of one set in `.ckpt-aside/` (an ISO time with `:` and `.` replaced). */
const STAMP_NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

/**
 * Keeps the newest {@link KEEP_ASIDE} sets in `.ckpt-aside/`: restarts must not fill the disk.
 * Only ckpt's own sets are touched: real directories with a set's name, in a real `.ckpt-aside`.
 */
async function pruneAside(target: string): Promise<void> {
  const dir = join(target, ASIDE_DIR);
  if (!(await fsp.lstat(dir).catch(() => undefined))?.isDirectory()) return;
  const stamps: string[] = [];
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
    if (STAMP_NAME.test(name) && (await fsp.lstat(join(dir, name)).catch(() => undefined))?.isDirectory())
      stamps.push(name);
  }
  stamps.sort();
  for (const stamp of stamps.slice(0, Math.max(0, stamps.length - KEEP_ASIDE))) {
    await fsp.rm(join(dir, stamp), { recursive: true, force: true });
  }
}

/**
 * `.ckpt-aside` must be a real directory (or absent): a symlink there would make set-aside move
 * the user's files out of the directory and its pruning delete files elsewhere.
 */
async function checkAsideDir(target: string): Promise<void> {
  const dir = join(target, ASIDE_DIR);
  const stat = await fsp.lstat(dir).catch(() => undefined);
  if (stat && !stat.isDirectory()) {
    throw new TargetPathError(
      `\`${dir}\` is ${describeKind(stat)}, not a directory: ckpt keeps set-aside files there and will not use it.`,
      {
        hint: `Remove \`${dir}\` (rm, not rm -r) and start again; ckpt creates it as a directory.`,
      },
    );
  }
}

/** Whether a directory on the way to `path` (relative to `target`) is a symlink. */
async function crossesSymlink(target: string, path: string): Promise<boolean> {
  let current = target;
  for (const part of path.split('/').slice(0, -1)) {
    current = join(current, part);
    const stat = await fsp.lstat(current).catch(() => undefined);
    if (!stat?.isDirectory()) return true;
  }
  return false;
}
