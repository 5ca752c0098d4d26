import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, IntegrityError, UnsafePathError } from '../../src/errors.js';
import { type Entry, materializeFiles, type Store, sha256Hex } from '../../src/store/index.js';
import { seededBytes, writeFileDeep } from '../helpers/bytes.js';
import {
  commitPaths,
  corruptChunk,
  fileEntryFor,
  openNewStore,
  readRawManifest,
  writeCraftedManifest,
} from '../helpers/store.js';
import { useTempDirs, withUmask } from '../helpers/tmp.js';

const tempDir = useTempDirs();

type Node =
  | { type: 'file'; mode: number; sha256: string; mtimeMs: number }
  | { type: 'dir'; mode: number }
  | { type: 'link'; target: string };

/** Everything under `dir` as a map from relative path to what is there (symlinks not followed). */
function snapshot(dir: string, rel = '', out = new Map<string, Node>()): Map<string, Node> {
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const child = rel === '' ? name : `${rel}/${name}`;
    const path = join(dir, child);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) {
      out.set(child, { type: 'link', target: readlinkSync(path) });
    } else if (stat.isDirectory()) {
      out.set(child, { type: 'dir', mode: stat.mode & 0o7777 });
      snapshot(dir, child, out);
    } else {
      const mtimeMs = Math.floor(stat.mtimeMs);
      out.set(child, {
        type: 'file',
        mode: stat.mode & 0o7777,
        sha256: sha256Hex(readFileSync(path)),
        mtimeMs,
      });
    }
  }
  return out;
}

function makeTree(base: string): void {
  writeFileDeep(join(base, 'tree/a.bin'), seededBytes(1, 5 << 20), 0o644);
  writeFileDeep(join(base, 'tree/run.sh'), '#!/bin/sh\necho hi\n', 0o755);
  writeFileDeep(join(base, 'tree/secret'), 'key', 0o600);
  writeFileDeep(join(base, 'tree/empty.txt'), '');
  writeFileDeep(join(base, 'tree/sub/deeper/x.txt'), 'nested\n');
  writeFileDeep(join(base, 'tree/sub/y.txt'), 'y\n');
  mkdirSync(join(base, 'tree/private'), { mode: 0o700 });
  mkdirSync(join(base, 'tree/shared'));
  chmodSync(join(base, 'tree/shared'), 0o775);
  chmodSync(join(base, 'tree/sub/deeper'), 0o750);
  symlinkSync('a.bin', join(base, 'tree/link-to-file'));
  symlinkSync('sub', join(base, 'tree/link-to-dir'));
  symlinkSync('y.txt', join(base, 'tree/sub/sibling'));
  symlinkSync('does-not-exist', join(base, 'tree/dangling'));
}

describe('materializeFiles restores a committed tree', () => {
  it('with identical bytes, file modes, mtimes and symlinks; dir modes under the umask', async () => {
    await withUmask(0o022, async () => {
      const base = tempDir();
      makeTree(join(base, 'src'));
      const store = await openNewStore(join(base, 'store'));
      const manifest = await commitPaths(store, join(base, 'src'), ['tree'], 1);
      const result = await materializeFiles(store.root, manifest, join(base, 'out'));
      expect(result).toEqual({ files: 6, bytes: (5 << 20) + 18 + 3 + 7 + 2 });
      const want = snapshot(join(base, 'src'));
      const got = snapshot(join(base, 'out'));
      expect([...got.keys()]).toEqual([...want.keys()]);
      for (const [path, node] of want) {
        const restored = got.get(path);
        if (node.type === 'file' && restored?.type === 'file') {
          // mtimes are restored to the millisecond (utimes takes seconds as a double).
          expect(Math.abs(restored.mtimeMs - node.mtimeMs), `${path} mtime`).toBeLessThanOrEqual(1);
          expect({ ...restored, mtimeMs: 0 }, path).toEqual({ ...node, mtimeMs: 0 });
        } else if (node.type === 'dir') {
          // docs/format.md 7.3: a dir entry is created with its mode, and the umask applies.
          expect(restored, path).toEqual({ type: 'dir', mode: node.mode & ~0o022 });
        } else {
          expect(restored, path).toEqual(node);
        }
      }
    });
  });

  it('replaces files that are already in the target', async () => {
    const base = tempDir();
    writeFileDeep(join(base, 'src/f.txt'), 'new');
    const store = await openNewStore(join(base, 'store'));
    const manifest = await commitPaths(store, join(base, 'src'), ['f.txt'], 1);
    writeFileDeep(join(base, 'out/f.txt'), 'old contents');
    await materializeFiles(store.root, manifest, join(base, 'out'));
    expect(readFileSync(join(base, 'out/f.txt'), 'utf8')).toBe('new');
    expect(readdirSync(join(base, 'out'))).toEqual(['f.txt']);
  });

  it('changes nothing in the target when a chunk is damaged (all files verified first)', async () => {
    const base = tempDir();
    writeFileDeep(join(base, 'src/a-new.txt'), 'only in the checkpoint');
    writeFileDeep(join(base, 'src/b.bin'), seededBytes(9, 100_000));
    writeFileDeep(join(base, 'src/c.txt'), 'checkpoint c');
    const store = await openNewStore(join(base, 'store'));
    const manifest = await commitPaths(store, join(base, 'src'), ['a-new.txt', 'b.bin', 'c.txt'], 1);
    const b = manifest.entries.find((e) => e.type === 'file' && e.path === 'b.bin');
    if (b?.type !== 'file') throw new Error('b.bin not committed');
    corruptChunk(store.root, b.chunks[0]!, 500);
    writeFileDeep(join(base, 'out/c.txt'), 'old c');
    const before = snapshot(join(base, 'out'));

    await expect(materializeFiles(store.root, manifest, join(base, 'out'))).rejects.toThrow(IntegrityError);
    expect(snapshot(join(base, 'out'))).toEqual(before);
  });
});

describe('materializeFiles refuses unsafe manifests', () => {
  /** A store whose next checkpoint is a crafted manifest: a harmless file first, then `evil`. */
  async function crafted(
    base: string,
    evil: (store: Store) => Promise<Entry>,
  ): Promise<{ store: Store; seq: number }> {
    const store = await openNewStore(join(base, 'store'));
    const ok = await fileEntryFor(store.root, 'ok.txt', Buffer.from('harmless'));
    const seq = await writeCraftedManifest(store, [ok, await evil(store)]);
    return { store, seq };
  }

  /** Restores into base/box/target; base/box also holds a victim file that must stay untouched. */
  async function expectRefused(base: string, store: Store, seq: number): Promise<UnsafePathError> {
    writeFileDeep(join(base, 'box/victim/passwd'), 'root:x:0:0');
    // The store refuses such a manifest when it reads it; materialize checks again on its own.
    await expect(store.readManifest(seq)).rejects.toThrow(FormatError);
    const error = await materializeFiles(
      store.root,
      readRawManifest(store, seq),
      join(base, 'box/target'),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsafePathError);
    expect(readdirSync(join(base, 'box')).sort()).toEqual(['victim']);
    expect(readdirSync(join(base, 'box/victim'))).toEqual(['passwd']);
    expect(readFileSync(join(base, 'box/victim/passwd'), 'utf8')).toBe('root:x:0:0');
    expect(existsSync(join(base, 'x'))).toBe(false);
    return error as UnsafePathError;
  }

  const filePaths: Array<[string, (base: string) => string]> = [
    ['../x', () => '../x'],
    ['a/../../x', () => 'a/../../x'],
    ['../../../../x', () => '../../../../x'],
    ['an absolute path', (base) => join(base, 'box/victim/passwd')],
    ['/etc/passwd', () => '/etc/passwd'],
    ['the target itself', () => 'a/..'],
  ];
  for (const [what, path] of filePaths) {
    it(`refuses a file entry at ${what} before writing anything`, async () => {
      const base = tempDir();
      const { store, seq } = await crafted(base, (s) =>
        fileEntryFor(s.root, path(base), Buffer.from('pwned')),
      );
      const error = await expectRefused(base, store, seq);
      expect(error.message).toContain(path(base));
    });
  }

  const links: Array<[string, string]> = [
    ['l', '/etc'],
    ['sub/l', '../..'],
    ['l', '..'],
    ['up', 'sub/../..'],
    // Resolves inside lexically, but `q` may itself be a link to `.`, so `..` is refused outright.
    ['p', 'q/..'],
  ];
  for (const [path, target] of links) {
    it(`refuses a symlink ${path} -> ${target}`, async () => {
      const base = tempDir();
      const { store, seq } = await crafted(base, async () => ({ type: 'symlink', path, target }));
      const error = await expectRefused(base, store, seq);
      expect(error.message).toContain(target);
    });
  }

  it('refuses to write through a symlink that already sits in the target', async () => {
    const base = tempDir();
    writeFileDeep(join(base, 'src/sub/file.txt'), 'payload');
    const store = await openNewStore(join(base, 'store'));
    const manifest = await commitPaths(store, join(base, 'src'), ['sub'], 1);
    mkdirSync(join(base, 'elsewhere'));
    mkdirSync(join(base, 'target'));
    symlinkSync(join(base, 'elsewhere'), join(base, 'target/sub'));

    await expect(materializeFiles(store.root, manifest, join(base, 'target'))).rejects.toThrow(
      UnsafePathError,
    );
    expect(readdirSync(join(base, 'elsewhere'))).toEqual([]);
    expect(lstatSync(join(base, 'target/sub')).isSymbolicLink()).toBe(true);
  });
});
