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
 * Writes the files, directories and symlinks of `manifest` under `target`, each file verified
 * chunk by chunk and written atomically. Every path is checked before anything is written:
 * absolute paths, `..`, symlinks that point outside `target`, and existing symlinks in the way
 * are refused with {@link UnsafePathError}.
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
        `Refusing symlink \`${entry.path}\` → \`${entry.target}\` in checkpoint #${manifest.seq}: it points outside the target directory.`,
        {
          hint: 'Such a link could make a later restore write outside the target; restore the files it points to instead.',
        },
      );
    }
    return [{ entry, path }];
  });
  await fsp.mkdir(base, { recursive: true, mode: DIR_MODE }).catch((error: unknown) => {
    throw wrapIoError(error, 'creating', base);
  });
  const result: MaterializeResult = { files: 0, bytes: 0 };
  const touchedDirs = new Set<string>();
  for (const { entry, path } of plan) {
    const abs = join(base, path);
    await refuseSymlinkedParents(base, path);
    await fsp.mkdir(dirname(abs), { recursive: true, mode: DIR_MODE });
    if (entry.type === 'dir') {
      await fsp.mkdir(abs, { recursive: true, mode: entry.mode & 0o7777 });
    } else if (entry.type === 'symlink') {
      await fsp.rm(abs, { force: true });
      await fsp.symlink(entry.target, abs);
    } else if (entry.type === 'file') {
      const bytes = Buffer.allocUnsafe(entry.size);
      await readChunks(root, entry.chunks, bytes);
      await writeFileAtomic(abs, bytes, { mode: entry.mode & 0o7777, syncDir: false });
      await fsp.chmod(abs, entry.mode & 0o7777);
      await fsp.utimes(abs, new Date(), new Date(entry.mtimeMs));
      result.files++;
      result.bytes += entry.size;
      touchedDirs.add(dirname(abs));
    }
  }
  await Promise.all([...touchedDirs].map((dir) => fsyncDir(dir)));
  return result;
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
