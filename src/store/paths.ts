import { isAbsolute, posix, relative, sep } from 'node:path';
import { UnsafePathError } from '../errors.js';

/**
 * Names that start with this are ckpt's own working files in a restore directory (`.ckpt-aside`,
 * `.ckpt-restore-…` staging): never captured, never restored.
 */
export const RESERVED_PREFIX = '.ckpt-';

/**
 * The normalized, `/`-separated form of a stored relative path, or an {@link UnsafePathError}
 * if it is absolute, empty or climbs out with `..`.
 */
export function safeRelativePath(path: string): string {
  if (path === '' || path.includes('\0')) throw unsafe(path, 'it is empty or contains NUL');
  if (isAbsolute(path) || posix.isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path)) {
    throw unsafe(path, 'it is absolute');
  }
  const normal = posix.normalize(path);
  if (normal === '..' || normal.startsWith('../')) throw unsafe(path, 'it leaves the target directory');
  if (normal === '.' || normal === './') throw unsafe(path, 'it names the target directory itself');
  return normal.replace(/\/$/, '');
}

/**
 * Whether a symlink at `linkPath` (relative) pointing to `target` stays inside the tree.
 * NOTE: a target with any `..` segment is refused even if it resolves inside, because the
 * segments before it may themselves be symlinks (`q -> .` then `p -> q/..` escapes).
 */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (isAbsolute(target) || posix.isAbsolute(target)) return false;
  if (target.split('/').includes('..')) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(linkPath), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

/** `path` relative to `base` in stored form, or undefined if it is outside `base`. */
export function storedPathUnder(base: string, path: string): string | undefined {
  const rel = relative(base, path);
  // `..` as a whole segment leaves `base`; a name that merely starts with dots (`..foo`) does not.
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

function unsafe(path: string, why: string): UnsafePathError {
  return new UnsafePathError(`Refusing path \`${path}\` in a manifest: ${why}.`, {
    hint: 'The manifest was written by something other than ckpt or was tampered with; do not restore it.',
  });
}
