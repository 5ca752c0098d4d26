import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { errnoCode, UnsafePathError, wrapIoError } from '../errors.js';
import { DIR_MODE, fsyncDir, writeFileAtomic } from './atomic-write.js';
import { readChunks } from './chunk-store.js';
import type { Manifest } from './manifest.js';
import { safeRelativePath, symlinkStaysInside } from './paths.js';

export interface MaterializeResult {
  files: number;
  bytes: number;
}

/**
 * Writes the files, directories and symlinks of `manifest` under `target`. All files are
 * verified before any is moved into place, so a damaged checkpoint changes nothing. Every path
 * is checked first: absolute paths, `..`, symlinks that may point outside `target`, and
 * existing symlinks in the way are refused with {@link UnsafePathError}. Set-id bits are dropped.
 */
export async function materializeFiles(
  root: string,
  manifest: Manifest,
  target: string,
): Promise<MaterializeResult> {
  const base = resolve(target);
  const plan = manifest.entries.flatMap((entry) => {
    if (entry.type === 'blob') return [];
    const path = safeRelativePath(entry.path);
    if (entry.type === 'symlink' && !symlinkStaysInside(path, entry.target)) {
      throw new UnsafePathError(
        `Refusing symlink \`${entry.path}\` → \`${entry.target}\` in checkpoint #${manifest.seq}: it may point outside the target directory.`,
        { hint: 'Symlinks in a checkpoint must be relative and must not use `..`.' },
      );
    }
    return [{ entry, path }];
  });
  await fsp.mkdir(base, { recursive: true, mode: DIR_MODE }).catch((error: unknown) => {
    throw wrapIoError(error, 'creating', base);
  });
  // Phase 1: every file is read, verified and written into a staging directory. A damaged
  // chunk fails here, before anything in the target has changed.
  const staging = join(base, `.ckpt-restore-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(staging, { mode: DIR_MODE });
  const result: MaterializeResult = { files: 0, bytes: 0 };
  try {
    const staged = new Map<string, string>();
    for (const [i, { entry }] of plan.entries()) {
      if (entry.type !== 'file') continue;
      const bytes = Buffer.allocUnsafe(entry.size);
      await readChunks(root, entry.chunks, bytes);
      const tmp = join(staging, String(i));
      await writeFileAtomic(tmp, bytes, { mode: entry.mode & 0o777, syncDir: false });
      staged.set(entry.path, tmp);
    }
    // Phase 2: directories, then files moved into place, then symlinks (last, so that no file
    // is ever written through a link the checkpoint itself created).
    const touchedDirs = new Set<string>();
    const ordered = [...plan].sort((a, b) => phase(a.entry.type) - phase(b.entry.type));
    for (const { entry, path } of ordered) {
      const abs = join(base, path);
      await refuseSymlinkedParents(base, path);
      await fsp.mkdir(dirname(abs), { recursive: true, mode: DIR_MODE });
      if (entry.type === 'dir') {
        await fsp.mkdir(abs, { recursive: true, mode: entry.mode & 0o777 });
      } else if (entry.type === 'symlink') {
        await fsp.rm(abs, { force: true });
        await fsp.symlink(entry.target, abs);
      } else if (entry.type === 'file') {
        await fsp.rename(staged.get(entry.path)!, abs);
        await fsp.chmod(abs, entry.mode & 0o777);
        await fsp.utimes(abs, new Date(), new Date(entry.mtimeMs));
        result.files++;
        result.bytes += entry.size;
      }
      touchedDirs.add(dirname(abs));
    }
    await Promise.all([...touchedDirs].map((dir) => fsyncDir(dir)));
  } finally {
    await fsp.rm(staging, { recursive: true, force: true });
  }
  return result;
}

function phase(type: string): number {
  return type === 'dir' ? 0 : type === 'file' ? 1 : 2;
}

/** A restore must not follow a symlink that already sits in the target tree. */
async function refuseSymlinkedParents(base: string, path: string): Promise<void> {
  const parts = path.split('/');
  let current = base;
  for (const part of parts.slice(0, -1)) {
    current = join(current, part);
    try {
      const stat = await fsp.lstat(current);
      if (stat.isSymbolicLink()) {
        throw new UnsafePathError(
          `Refusing to restore \`${path}\`: \`${current}\` is a symlink in the target.`,
          {
            hint: 'Restore into an empty directory (ckpt restore --to NEW_DIR).',
          },
        );
      }
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
  }
}
