/**
 * The Python reader in examples/python/read_store.py against stores written by the real CLI and
 * library (run `npm run build` first: the CLI runs from dist/). Needs python3; without it the tests
 * are skipped, except under CI, where they fail.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import type { FileEntry, Manifest } from '../../src/store/index.js';
import { compressibleBytes, seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { cleanEnv, runCkpt } from '../helpers/cli.js';
import { describeNeeds, PYTHON3 } from '../helpers/needs.js';
import { requireBuild } from '../helpers/repo.js';
import { corruptChunk } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READER = join(ROOT, 'examples', 'python', 'read_store.py');

const hasZstdCommand = spawnSync('zstd', ['--version']).status === 0;

function python(...args: string[]) {
  return spawnSync('python3', [READER, ...args], { encoding: 'utf8' });
}

function ckptCommit(work: string, store: string, step: number, paths: string[]): void {
  const run = runCkpt(['commit', '--step', String(step), ...paths], {
    cwd: work,
    env: cleanEnv({ CKPT_STORE: store }),
  });
  expect(run.code, run.stderr).toBe(0);
}

function manifestFile(store: string, seq: number): string {
  return join(store, 'manifests', `${String(seq).padStart(10, '0')}.json`);
}

function readManifest(store: string, seq: number): Manifest {
  return JSON.parse(readFileSync(manifestFile(store, seq), 'utf8').split('\n')[0]!) as Manifest;
}

function fileEntry(manifest: Manifest, path: string): FileEntry {
  const entry = manifest.entries.find((e) => e.type === 'file' && e.path === path);
  if (!entry) throw new Error(`no file ${path} in #${manifest.seq}`);
  return entry as FileEntry;
}

describeNeeds('examples/python/read_store.py', PYTHON3, () => {
  const tempDir = useTempDirs('ckpt-pyreader-');

  beforeAll(requireBuild);

  const big = seededBytes(1, 3_500_000);
  const v1 = seededBytes(2, 200_000);
  const v2 = seededBytes(3, 200_000);
  const notes = compressibleBytes(300_000);

  /** A store with #1 (big.bin, sub/file.bin = v1, sub/notes.txt) and #2 (sub/file.bin = v2). */
  function twoCheckpoints(): { store: string; out: string } {
    const work = tempDir();
    const store = join(tempDir(), 'store');
    writeFileDeep(join(work, 'big.bin'), big);
    writeFileDeep(join(work, 'sub', 'file.bin'), v1);
    writeFileDeep(join(work, 'sub', 'notes.txt'), notes);
    ckptCommit(work, store, 10, ['big.bin', 'sub']);
    writeFileDeep(join(work, 'sub', 'file.bin'), v2);
    ckptCommit(work, store, 20, ['big.bin', 'sub']);
    return { store, out: tempDir() };
  }

  it('lists the checkpoints and extracts committed files byte for byte', () => {
    const { store, out } = twoCheckpoints();
    const ls = python(store, 'ls');
    expect(ls.status, ls.stderr).toBe(0);
    // big.bin, sub, sub/file.bin, sub/notes.txt
    expect(ls.stdout).toMatch(/^1\s+10\s+\S+Z\s+4\s+OK$/m);
    expect(ls.stdout).toMatch(/^2\s+20\s+\S+Z\s+4\s+OK$/m);

    const latest = python(store, 'extract', 'latest', 'sub/file.bin', join(out, 'latest.bin'));
    expect(latest.status, latest.stderr).toBe(0);
    expect(readFileSync(join(out, 'latest.bin')).equals(v2)).toBe(true);
    const first = python(store, 'extract', '1', 'sub/file.bin', join(out, 'first.bin'));
    expect(first.status, first.stderr).toBe(0);
    expect(readFileSync(join(out, 'first.bin')).equals(v1)).toBe(true);

    expect(fileEntry(readManifest(store, 2), 'big.bin').chunks.length).toBeGreaterThan(1);
    const multi = python(store, 'extract', 'latest', 'big.bin', join(out, 'big.bin'));
    expect(multi.status, multi.stderr).toBe(0);
    expect(readFileSync(join(out, 'big.bin')).equals(big)).toBe(true);
  });

  it('decompresses .zst chunks with the zstd command, or says it is needed', () => {
    const { store, out } = twoCheckpoints();
    const compressed = fileEntry(readManifest(store, 2), 'sub/notes.txt').chunks.some((c) => c.z === 1);
    const run = python(store, 'extract', 'latest', 'sub/notes.txt', join(out, 'notes.txt'));
    if (compressed && !hasZstdCommand) {
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/install the `zstd` command/);
    } else {
      expect(run.status, run.stderr).toBe(0);
      expect(readFileSync(join(out, 'notes.txt')).equals(notes)).toBe(true);
    }
  });

  it('shows a corrupted manifest as DAMAGED, and `latest` falls back to the previous checkpoint', () => {
    const { store, out } = twoCheckpoints();
    const path = manifestFile(store, 2);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"step":20', '"step":21'));
    const ls = python(store, 'ls');
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/^1\s.*\sOK$/m);
    expect(ls.stdout).toMatch(/^2\s.*DAMAGED: manifest does not match its checksum/m);

    const run = python(store, 'extract', 'latest', 'sub/file.bin', join(out, 'file.bin'));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/skipping #2/);
    expect(readFileSync(join(out, 'file.bin')).equals(v1)).toBe(true);
  });

  it('fails with exit 1 on a corrupted chunk and writes nothing', () => {
    const { store, out } = twoCheckpoints();
    const [ref] = fileEntry(readManifest(store, 2), 'sub/file.bin').chunks;
    corruptChunk(store, ref!, 1000);
    const run = python(store, 'extract', 'latest', 'sub/file.bin', join(out, 'file.bin'));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`chunk ${ref!.h} is corrupt`));
    expect(readdirSync(out)).toEqual([]); // no partial output, no temp file left behind
  });

  it('refuses unsafe paths and other kinds of entries; usage errors exit 2', () => {
    const { store, out } = twoCheckpoints();
    for (const unsafe of ['../big.bin', '/etc/passwd', 'sub/../../x', '']) {
      const run = python(store, 'extract', 'latest', unsafe, join(out, 'x'));
      expect(run.status, unsafe).toBe(1);
      expect(run.stderr).toMatch(/refusing unsafe path/);
    }
    expect(python(store, 'extract', 'latest', 'sub', join(out, 'x')).stderr).toMatch(
      /is a dir, not a regular file/,
    );
    expect(python(store, 'extract', 'latest', 'nope.bin', join(out, 'x')).status).toBe(1);
    expect(python(store, 'extract', '7', 'big.bin', join(out, 'x')).status).toBe(1);
    expect(python(store, 'value', 'latest').stderr).toMatch(/holds files, not a value/);
    expect(python(join(out, 'not-a-store'), 'ls').status).toBe(1);
    expect(python(store).status).toBe(2);
    expect(python(store, 'extract', 'latest').status).toBe(2);
    expect(python(store, 'frobnicate').status).toBe(2);
    expect(readdirSync(out)).toEqual([]);
  });

  it('prints the value document of a checkpoint saved by the library', () => {
    const store = join(tempDir(), 'store');
    const script = `
      import { openCheckpointer } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)};
      const ck = await openCheckpointer({ dir: ${JSON.stringify(store)} });
      await ck.save({ step: 5, weights: new Float64Array(20000).fill(0.5), tags: new Set(['a']) }, { step: 5 });
      await ck.close();`;
    const save = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(save.status, save.stderr).toBe(0);
    const run = python(store, 'value', 'latest');
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      encoding: 'ckpt-value/1',
      value: {
        step: 5,
        weights: { $: 'blob', type: 'Float64Array', key: 'b0', length: 160000 },
        tags: { $: 'set', v: ['a'] },
      },
    });
  });
});
