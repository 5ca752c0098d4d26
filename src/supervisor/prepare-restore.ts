import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { IntegrityError } from '../errors.js';
import {
  appendJournal,
  type Manifest,
  materializeFiles,
  type SkippedCheckpoint,
  type Store,
} from '../store/index.js';

/** Where set-aside files go, inside the restore directory. */
export const ASIDE_DIR = '.ckpt-aside';
/** How many sets of set-aside files are kept (older ones are deleted). */
export const KEEP_ASIDE = 3;

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
): Promise<PreparedRestore> {
  const { usable, skipped } = await store.candidates();
  for (const manifest of usable) {
    if (!holdsFiles(manifest)) {
      // A library checkpoint: the program restores it itself through CKPT_STORE.
      return { manifest, skipped, setAside: [] };
    }
    const setAside = await setAsideStrays(target, manifest, globs);
    try {
      await materializeFiles(store.root, manifest, target);
    } catch (error) {
      if (!(error instanceof IntegrityError)) throw error;
      skipped.push({ seq: manifest.seq, reason: error.message });
      continue;
    }
    if (setAside.length > 0)
      await appendJournal(store.root, 'set-aside', { seq: manifest.seq, files: setAside });
    return { manifest, skipped, setAside };
  }
  return { manifest: undefined, skipped, setAside: [] };
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
      ignore: [`${ASIDE_DIR}/**`],
    });
    for (const path of found) candidates.add(path);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const takenAt = Date.parse(manifest.time);
  const moved: string[] = [];
  for (const path of [...candidates].sort()) {
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

/** Keeps the newest {@link KEEP_ASIDE} sets in `.ckpt-aside/`: restarts must not fill the disk. */
async function pruneAside(target: string): Promise<void> {
  const dir = join(target, ASIDE_DIR);
  const stamps = (await fsp.readdir(dir).catch(() => [] as string[])).sort();
  for (const stamp of stamps.slice(0, Math.max(0, stamps.length - KEEP_ASIDE))) {
    await fsp.rm(join(dir, stamp), { recursive: true, force: true });
  }
}
