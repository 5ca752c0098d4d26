import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UnsafePathError, UsageError } from '../../src/errors.js';
import { safeRelativePath, storedPathUnder, symlinkStaysInside } from '../../src/store/paths.js';
import { writeFileDeep } from '../helpers/bytes.js';
import { commitPaths, openNewStore } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

describe('safeRelativePath', () => {
  it('normalizes safe relative paths', () => {
    expect(safeRelativePath('a/./b//c/')).toBe('a/b/c');
    expect(safeRelativePath('a/x/../b')).toBe('a/b');
    expect(safeRelativePath('..foo/bar')).toBe('..foo/bar');
    expect(safeRelativePath('.hidden')).toBe('.hidden');
  });

  it('refuses absolute, empty, NUL and escaping paths', () => {
    for (const path of ['', '/etc/passwd', 'C:\\x', 'a\0b', '..', '../x', 'a/../../x', '.', 'a/..']) {
      expect(() => safeRelativePath(path), JSON.stringify(path)).toThrow(UnsafePathError);
    }
  });
});

describe('symlinkStaysInside', () => {
  it('allows relative targets without `..`', () => {
    expect(symlinkStaysInside('link', 'a.bin')).toBe(true);
    expect(symlinkStaysInside('sub/link', 'deeper/x.txt')).toBe(true);
    expect(symlinkStaysInside('sub/link', '..foo')).toBe(true);
  });

  it('refuses absolute targets and any `..` segment', () => {
    for (const [link, target] of [
      ['l', '/etc'],
      ['l', '..'],
      ['sub/l', '../x'],
      ['p', 'q/..'],
    ] as const) {
      expect(symlinkStaysInside(link, target), `${link} -> ${target}`).toBe(false);
    }
  });
});

describe('storedPathUnder', () => {
  const base = '/work/job';
  it('gives the stored form of paths below base', () => {
    expect(storedPathUnder(base, join(base, 'out/state.bin'))).toBe('out/state.bin');
    expect(storedPathUnder(base, join(base, '..foo'))).toBe('..foo');
    expect(storedPathUnder(base, join(base, '...'))).toBe('...');
  });

  it('refuses base itself and anything outside it', () => {
    for (const path of [base, '/work', '/work/jobber', '/work/job/../x', '/etc/passwd']) {
      expect(storedPathUnder(base, path), path).toBeUndefined();
    }
  });
});

describe('committing a file whose name starts with two dots', () => {
  const tempDir = useTempDirs();
  it('is allowed (it is inside the working directory)', async () => {
    const base = tempDir();
    writeFileDeep(join(base, 'work/..foo'), 'dots');
    const store = await openNewStore(join(base, 'store'));
    const manifest = await commitPaths(store, join(base, 'work'), ['..foo'], 1);
    expect(manifest.entries).toMatchObject([{ type: 'file', path: '..foo', size: 4 }]);
    await expect(commitPaths(store, join(base, 'work'), ['../work'], 2)).rejects.toThrow(UsageError);
  });
});
