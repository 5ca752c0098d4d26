import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { errnoCode, TargetPathError, UnsafePathError, UsageError, wrapIoError } from '../errors.js';
import { DIR_MODE, fsyncDir, writeAll, writeTempFile } from './atomic-write.js';
import type { ChunkRef } from './chunk-read.js';
import type { Entry, Manifest } from './manifest.js';
import { readVerified } from './pack-read.js';
import { safeRelativePath, symlinkStaysInside } from './paths.js';
import { entriesToRestore, type RankChoice } from './rank-view.js';
import { describeKind } from './safe-fs.js';

/** What {@link materializeFiles} wrote: regular files and their bytes. */
export interface MaterializeResult {
  files: number;
  bytes: number;
}

/**
 * Mode bits a restore sets. Files keep their permission and sticky bits but never set-uid or
 * set-gid (a store is untrusted: a restored set-uid binary would run as its owner).
 */
export const FILE_MODE_MASK = 0o1777;
/** Directories are created with their permission and sticky bits, under the umask. */
export const DIR_MODE_MASK = 0o1777;

/**
 * Writes the files, directories and symlinks of `manifest` under `target`. All files are
 * verified before any is moved into place, so a damaged checkpoint changes nothing; each file is
 * written chunk by chunk (memory stays at one chunk however large the file). The manifest's paths
 * were checked when it was parsed; here every existing path in the target is checked too: a
 * symlink in the way of a directory is refused with {@link UnsafePathError}, a directory in the
 * way of a file with {@link UsageError}, both before the target changes. Of a multi-rank
 * checkpoint, writes `rank`'s part, or every rank's (see {@link entriesToRestore}).
 */
export async function materializeFiles(
  root: string,
  manifest: Manifest,
  target: string,
  rank?: RankChoice,
): Promise<MaterializeResult> {
  const base = resolve(target);
  // The store validated these paths when it parsed the manifest; checked again here because a
  // caller may hand over a manifest from anywhere.
  const plan = entriesToRestore(manifest, rank).filter((entry) => entry.type !== 'blob');
  for (const entry of plan) {
    safeRelativePath(entry.path);
    if (entry.type === 'symlink' && !symlinkStaysInside(entry.path, entry.target)) {
      throw new UnsafePathError(
        `Refusing symlink \`${entry.path}\` → \`${entry.target}\` in checkpoint #${manifest.seq}: it may point outside the target directory.`,
        { hint: 'Symlinks in a checkpoint must be relative and must not use `..`.' },
      );
    }
  }
  await fsp.mkdir(base, { recursive: true, mode: DIR_MODE }).catch((error: unknown) => {
    throw wrapIoError(error, 'creating', base);
  });
  for (const entry of plan) await checkTargetPath(base, entry);
  // Phase 1: every file is read, verified and written into a staging directory. A damaged
  // chunk fails here, before anything in the target has changed.
  const staging = join(base, `.ckpt-restore-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(staging, { mode: DIR_MODE }).catch((error: unknown) => {
    throw wrapIoError(error, 'creating', staging);
  });
  const result: MaterializeResult = { files: 0, bytes: 0 };
  try {
    const staged = new Map<string, string>();

    for (const [i, entry] of plan.entries()) {
      if (entry.type !== 'file') continue;
      const tmp = join(staging, String(i));
      await stageFile(root, entry.chunks, tmp);
      staged.set(entry.path, tmp);
    }
    await fsyncDir(staging);
    // Phase 2: directories, then files moved into place, then symlinks (last, so that no file
    // is ever written through a link the checkpoint itself created).
    const touchedDirs = new Set<string>();
    const ordered = [...plan].sort((a, b) => phase(a.type) - phase(b.type));
    for (const entry of ordered) {
      const abs = join(base, entry.path);
      await refuseSymlinkedParents(base, entry.path);
      await fsp.mkdir(dirname(abs), { recursive: true, mode: DIR_MODE });
      if (entry.type === 'dir') {
        await fsp.mkdir(abs, { recursive: true, mode: entry.mode & DIR_MODE_MASK });
      } else if (entry.type === 'symlink') {
        await fsp.rm(abs, { force: true });
        await fsp.symlink(entry.target, abs);
      } else {
        await fsp.rename(staged.get(entry.path)!, abs);
        await fsp.chmod(abs, entry.mode & FILE_MODE_MASK);
        await fsp.utimes(abs, new Date(), new Date(entry.mtimeMs));
        result.files++;
        result.bytes += entry.size;
      }
      touchedDirs.add(dirname(abs));
    }
    await Promise.all([...touchedDirs].map((dir) => fsyncDir(dir)));
  } catch (error) {
    throw wrapIoError(error, 'restoring into', base);
  } finally {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => {});
  }
  return result;
}

function phase(type: string): number {
  return type === 'dir' ? 0 : type === 'file' ? 1 : 2;
}

/**
 * Writes a file's chunks, each verified, into `tmp` and makes it durable. Chunks are read in
 * large sequential runs of their packs and written at their offsets (see {@link readVerified}).
 */
async function stageFile(root: string, chunks: readonly ChunkRef[], tmp: string): Promise<void> {
  const offsets: number[] = [];
  let end = 0;
  for (const ref of chunks) {
    offsets.push(end);
    end += ref.n;
  }
  await writeTempFile(tmp, (handle) =>
    readVerified(root, chunks, async (_ref, i, bytes) => {
      await writeAll(handle, bytes, offsets[i]!);
    }),
  );
}

/**
 * Checks what already sits where `entry` goes: a directory where a file belongs, or a symlink
 * where a directory belongs, stops the restore before anything changed.
 */
async function checkTargetPath(base: string, entry: Entry): Promise<void> {
  if (entry.type === 'blob') return;
  await refuseSymlinkedParents(base, entry.path);
  const abs = join(base, entry.path);
  const stat = await fsp.lstat(abs).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return undefined;
    throw wrapIoError(error, 'checking', abs);
  });
  if (!stat) return;
  if (entry.type === 'dir' && !stat.isDirectory()) {
    if (stat.isSymbolicLink()) {
      throw new TargetPathError(`Refusing to restore directory \`${entry.path}\`: \`${abs}\` is a symlink.`, {
        hint: 'Restore into an empty directory (ckpt restore --to NEW_DIR), or remove the link.',
      });
    }
    throw new UsageError(`Cannot restore directory \`${entry.path}\`: \`${abs}\` is ${describeKind(stat)}.`, {
      hint: `Move \`${abs}\` away, or restore into an empty directory (ckpt restore --to NEW_DIR).`,
    });
  }
  if (entry.type !== 'dir' && stat.isDirectory()) {
    throw new UsageError(`Cannot restore ${entry.type} \`${entry.path}\`: \`${abs}\` is a directory.`, {
      hint: `Move \`${abs}\` away, or restore into an empty directory (ckpt restore --to NEW_DIR).`,
    });
  }
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
        throw new TargetPathError(
          `Refusing to restore \`${path}\`: \`${current}\` is a symlink in the target.`,
          {
            hint: 'Restore into an empty directory (ckpt restore --to NEW_DIR).',
          },
        );
      }
      if (!stat.isDirectory()) {
        throw new UsageError(
          `Cannot restore \`${path}\`: \`${current}\` is ${describeKind(stat)}, not a directory.`,
          {
            hint: `Move \`${current}\` away, or restore into an empty directory (ckpt restore --to NEW_DIR).`,
          },
        );
      }
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return;
      throw error;
    }
  }
}
