/**
 * Seeing inside checkpoints for debugging: `ckpt inspect` (a library value's tree with array
 * statistics, a file checkpoint's files with their heads), `ckpt diff --values` (where two values
 * differ, element by element), and the Python reader's `load_value`, which must give the very
 * numbers the library saved.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openCheckpointer } from '../../src/index.js';
import type { ArrayStats, Inspection, ValueDiff, ValueNode } from '../../src/inspect/index.js';
import { Store } from '../../src/store/index.js';
import { ckptJson, runCkpt } from '../helpers/cli.js';
import { PYTHON3, skipWithout } from '../helpers/needs.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { corruptChunk } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tmp = useTempDirs('ckpt-inspect-');
beforeAll(requireBuild);

/** A state with every kind of number an array can hold, nested parts and the other value kinds. */
function makeState() {
  const field = new Float64Array(1000).map((_, i) => Math.sin(i));
  field[3] = Number.NaN;
  field[4] = Number.POSITIVE_INFINITY;
  field[5] = -0;
  field[6] = Number.NEGATIVE_INFINITY;
  return {
    step: 1,
    field,
    empty: new Float32Array(0),
    counts: new BigInt64Array([1n, -5n, 9007199254740993n]),
    zeros: new Float64Array([0, -0]),
    model: { weights: [new Float32Array([1, 2, 3]), new Float32Array([0.5])], name: 'net' },
    list: [1, 2, 3],
    tags: new Map<unknown, unknown>([
      ['a', 1],
      ['b', new Int16Array([-7, 7])],
    ]),
    seen: new Set([1, 'x']),
    when: new Date(Date.UTC(2026, 11, 7)),
    raw: Buffer.from('hi'),
  };
}

async function saveStates(dir: string, states: unknown[]): Promise<string> {
  const store = join(dir, 'store');
  const ck = await openCheckpointer({ dir: store });
  for (const [i, s] of states.entries()) await ck.save(s, { step: i + 1 });
  await ck.close();
  return store;
}

function child(node: ValueNode, path: string): ValueNode {
  const found = findIn(node, path);
  if (!found) throw new Error(`no ${path} in ${JSON.stringify(node).slice(0, 300)}`);
  return found;
}
function findIn(node: ValueNode, path: string): ValueNode | undefined {
  if (node.path === path) return node;
  if (!('children' in node)) return undefined;
  for (const c of node.children) {
    const f = findIn(c, path);
    if (f) return f;
  }
  return undefined;
}
const stats = (node: ValueNode): ArrayStats => {
  if (node.kind !== 'array') throw new Error(`${node.path} is ${node.kind}, not an array`);
  return node.stats;
};

describe('ckpt inspect of a library checkpoint', () => {
  it('shows every array with dtype, length, min, max, mean, NaN and Inf counts and its first values', async () => {
    const dir = tmp();
    const store = await saveStates(dir, [makeState()]);
    const out = ckptJson<Inspection>(['--store', store, 'inspect', 'latest'], { cwd: dir });
    if (out.kind !== 'value') throw new Error('not a value');
    const field = stats(child(out.node, 'field'));
    const finite = Array.from(makeState().field).filter(Number.isFinite);
    expect(field).toEqual({
      dtype: 'Float64Array',
      length: 1000,
      min: Math.min(...finite),
      max: Math.max(...finite),
      mean: finite.reduce((a, b) => a + b, 0) / finite.length,
      nan: 1,
      inf: 2,
      first: [
        '0',
        String(Math.sin(1)),
        String(Math.sin(2)),
        'NaN',
        'Infinity',
        '-0',
        '-Infinity',
        String(Math.sin(7)),
      ],
    });
    expect(stats(child(out.node, 'empty'))).toEqual({
      dtype: 'Float32Array',
      length: 0,
      min: null,
      max: null,
      mean: null,
      nan: 0,
      inf: 0,
      first: [],
    });
    expect(stats(child(out.node, 'counts'))).toMatchObject({
      dtype: 'BigInt64Array',
      min: '-5',
      max: '9007199254740993',
      first: ['1n', '-5n', '9007199254740993n'],
    });
    // -0 is the smaller zero, and is shown as such.
    expect(stats(child(out.node, 'zeros'))).toMatchObject({ min: 0, max: 0, first: ['0', '-0'] });
    expect(Object.is(stats(child(out.node, 'zeros')).min, 0)).toBe(true);
    expect(stats(child(out.node, 'model.weights[0]'))).toMatchObject({
      dtype: 'Float32Array',
      min: 1,
      max: 3,
      mean: 2,
    });
    expect(stats(child(out.node, 'list'))).toMatchObject({ dtype: 'Array', length: 3, mean: 2 });
    expect(stats(child(out.node, 'tags.b'))).toMatchObject({ dtype: 'Int16Array', min: -7, max: 7 });
    expect(child(out.node, 'model.name')).toEqual({
      path: 'model.name',
      kind: 'scalar',
      type: 'string',
      value: '"net"',
    });
    expect(child(out.node, 'when')).toMatchObject({
      kind: 'scalar',
      type: 'date',
      value: '2026-12-07T00:00:00.000Z',
    });
    expect(child(out.node, 'raw')).toEqual({
      path: 'raw',
      kind: 'bytes',
      type: 'Buffer',
      length: 2,
      first: ['104', '105'],
    });
    expect(child(out.node, 'seen')).toMatchObject({ kind: 'set', size: 2 });

    const text = runCkpt(['--store', store, 'inspect', 'latest'], { cwd: dir });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^ {4}field {2}Float64Array\(1000\) {2}min -0\.99\d+ {2}max 0\.99\d+ {2}mean \S+ {2}NaN 1 {2}Inf 2 {2}\[0, 0\.84/m,
    );
    expect(text.stdout).toMatch(
      /^ {8}model\.weights\[0\] {2}Float32Array\(3\) {2}min 1 {2}max 3 {2}mean 2 {2}\[1, 2, 3\]$/m,
    );
  });

  it('latest: passes over a newest checkpoint that does not read whole, as a restore does, and says so', async () => {
    const dir = tmp();
    const store = await saveStates(dir, [
      { a: new Float64Array([1, 2, 3]) },
      { a: new Float64Array([4, 5, 6]) },
    ]);
    const second = (await (await Store.open(store)).readManifest(2)).entries.find(
      (e) => e.type === 'blob' && e.key === 'value',
    );
    if (second?.type !== 'blob') throw new Error('no value document in #2');
    corruptChunk(store, second.chunks[0]!);
    const r = runCkpt(['--store', store, 'inspect', 'latest'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Checkpoint #1, step 1:/);
    expect(r.stderr).toMatch(/checkpoint #2 passed over: /);
    // Asked for by number, the damaged one is an error, not another checkpoint.
    expect(runCkpt(['--store', store, 'inspect', '2'], { cwd: dir }).code).not.toBe(0);
  });

  it('shows one part when given a path, and names what is there when the path is wrong', async () => {
    const dir = tmp();
    const store = await saveStates(dir, [makeState()]);
    const part = ckptJson<Inspection>(['--store', store, 'inspect', '1', 'model.weights[1]'], { cwd: dir });
    expect(part).toMatchObject({ seq: 1, kind: 'value', node: { path: 'model.weights[1]', kind: 'array' } });
    const wrong = runCkpt(['--store', store, 'inspect', 'latest', 'model.wieghts'], { cwd: dir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('The value has nothing at `model.wieghts`');
    expect(wrong.stderr).toContain('At `model` there is: weights, name.');
    const bad = runCkpt(['--store', store, 'inspect', 'latest', 'model..x'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Cannot read the value path `model..x`');
  });
});

describe('ckpt diff --values', () => {
  it('counts changed elements per array with the largest absolute and relative change, and scalar changes', async () => {
    const dir = tmp();
    const before = makeState();
    const after = makeState();
    after.step = 2;
    after.field[10] = after.field[10]! + 0.001;
    after.field[500] = 7;
    after.zeros[1] = 0; // -0 → 0 is a change
    after.model.name = 'net2';
    after.list.push(4);
    (after as Record<string, unknown>).extra = 5;
    delete (after as Partial<typeof after>).raw;
    const store = await saveStates(dir, [before, after]);
    const diff = ckptJson<ValueDiff & { from: number; to: number }>(
      ['--store', store, 'diff', '1', '2', '--values'],
      { cwd: dir },
    );
    const byPath = new Map(diff.changes.map((c) => [c.path, c]));
    expect(byPath.get('field')).toEqual({
      path: 'field',
      kind: 'array',
      dtype: 'Float64Array',
      lengths: [1000, 1000],
      compared: 1000,
      changed: 2,
      maxAbs: 7 - Math.sin(500),
      maxAbsAt: 500,
      maxRel: Math.abs(7 - Math.sin(500)) / Math.abs(Math.sin(500)),
      maxRelAt: 500,
      firstAt: 10,
      nonFinite: 0,
    });
    // NaN stayed NaN: not a change.
    expect((byPath.get('field') as { changed: number }).changed).toBe(2);
    expect(byPath.get('zeros')).toMatchObject({ changed: 1, firstAt: 1, maxAbs: 0 });
    expect(byPath.get('step')).toEqual({ path: 'step', kind: 'scalar', old: '1', new: '2' });
    expect(byPath.get('model.name')).toEqual({
      path: 'model.name',
      kind: 'scalar',
      old: '"net"',
      new: '"net2"',
    });
    expect(byPath.get('list')).toMatchObject({ kind: 'array', lengths: [3, 4], changed: 0 });
    expect(byPath.get('extra')).toEqual({ path: 'extra', kind: 'added', what: '5' });
    expect(byPath.get('raw')).toEqual({ path: 'raw', kind: 'removed', what: 'Buffer(2)' });
    expect(diff.changes).toHaveLength(7);
    // empty, counts, model.weights[0] and [1], tags.b: unchanged arrays.
    expect(diff.unchangedArrays).toBe(5);

    const text = runCkpt(['--store', store, 'diff', '1', '2', '--values'], { cwd: dir });
    expect(text.stdout).toContain(
      '~ field  Float64Array: 2 of 1000 changed, first at [10]; largest change 7.',
    );
    expect(text.stdout).toContain('~ step  1 → 2');
  });

  it('subtracts 64-bit integers exactly, counts NaN and Inf transitions, and never shows a rounded figure as exact', async () => {
    const dir = tmp();
    const store = await saveStates(dir, [
      {
        big: new BigInt64Array([9223372036854775806n, 9007199254740993n, 5n]),
        ints: new Int32Array([-2147483648, 7]),
        f: new Float64Array([1, 2, Number.NaN, 1e308, 4]),
      },
      {
        big: new BigInt64Array([9223372036854775807n, 9007199254740992n, 5n]),
        ints: new Int32Array([2147483647, 7]),
        f: new Float64Array([Number.NaN, 2, 3, -1e308, Number.POSITIVE_INFINITY]),
      },
    ]);
    const diff = ckptJson<ValueDiff>(['--store', store, 'diff', '1', '2', '--values'], { cwd: dir });
    const byPath = new Map(diff.changes.map((c) => [c.path, c]));
    // As doubles, 2^53 + 1 → 2^53 is no change at all.
    expect(byPath.get('big')).toMatchObject({ changed: 2, maxAbs: 1, maxAbsAt: 0 });
    expect(byPath.get('ints')).toMatchObject({ changed: 1, maxAbs: 4294967295 });
    // 1 → NaN, NaN → 3 and 4 → Inf are counted apart; 1e308 → -1e308 changed by a ratio of 2.
    expect(byPath.get('f')).toMatchObject({ changed: 4, nonFinite: 3, maxRel: 2, maxRelAt: 3 });
    const text = runCkpt(['--store', store, 'diff', '1', '2', '--values'], { cwd: dir }).stdout;
    expect(text).toContain('largest change 4294967295 at [0]');
    expect(text).toContain('3 to, from or between NaN and ±Inf');
    expect(text).not.toContain('4294970000');
  });

  it('refuses a file checkpoint, saying what to do instead', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.txt'), 'x\n');
    const store = join(dir, 'store');
    expect(runCkpt(['--store', store, 'commit', '--step', '1', 'a.txt'], { cwd: dir }).code).toBe(0);
    const r = runCkpt(['--store', store, 'diff', '1', '1', '--values'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Checkpoint #1 holds files, not a library value');
    expect(r.stderr).toContain('Leave out --values');
  });
});

describe('ckpt inspect of a file checkpoint', () => {
  it('lists files with sizes and kinds, the heads of text files, and narrows to a path', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'out', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'out', 'log.txt'), 'one\ntwo\nthree\nfour\nfive\nsix\n');
    writeFileSync(join(dir, 'out', 'data.bin'), Buffer.from([1, 0, 2, 0, 3]));
    writeFileSync(join(dir, 'out', 'empty'), '');
    writeFileSync(join(dir, 'out', 'sub', 'c.csv'), 'a,b\n1,2\n');
    symlinkSync('log.txt', join(dir, 'out', 'link'));
    const store = join(dir, 'store');
    expect(runCkpt(['--store', store, 'commit', '--step', '1', 'out'], { cwd: dir }).code).toBe(0);
    const all = ckptJson<Inspection>(['--store', store, 'inspect', 'latest'], { cwd: dir });
    if (all.kind !== 'files') throw new Error('not files');
    const byPath = new Map(all.files.map((f) => [f.path, f]));
    expect(byPath.get('out/log.txt')).toEqual({
      path: 'out/log.txt',
      type: 'file',
      size: 28,
      content: 'text',
      head: ['one', 'two', 'three', 'four', 'five'],
    });
    expect(byPath.get('out/data.bin')).toEqual({
      path: 'out/data.bin',
      type: 'file',
      size: 5,
      content: 'binary',
    });
    expect(byPath.get('out/empty')).toMatchObject({ size: 0, content: 'empty' });
    expect(byPath.get('out/link')).toEqual({ path: 'out/link', type: 'symlink', target: 'log.txt' });
    expect(byPath.get('out/sub')).toEqual({ path: 'out/sub', type: 'dir' });
    const sub = ckptJson<Inspection>(['--store', store, 'inspect', 'latest', 'out/sub/'], { cwd: dir });
    expect(sub.kind === 'files' && sub.files.map((f) => f.path)).toEqual(['out/sub', 'out/sub/c.csv']);
    const text = runCkpt(['--store', store, 'inspect', 'latest'], { cwd: dir });
    expect(text.stdout).toContain('  out/log.txt  28 B  text\n  | one\n  | two\n');
    const none = runCkpt(['--store', store, 'inspect', 'latest', 'out/nothing'], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('has no file at or under `out/nothing`');
  });

  it("shows a store's control characters escaped, never sends them to the terminal, and keeps each name on its line", () => {
    const dir = tmp();
    mkdirSync(join(dir, 'out'));
    writeFileSync(
      join(dir, 'out', 'ansi.txt'),
      'plain\n\x1b[31mred\x1b[0m and \x1b]0;TITLE\x07 osc\tand a tab\n',
    );
    writeFileSync(join(dir, 'out', 'esc\x1b[2Jname.txt'), 'x\n');
    writeFileSync(join(dir, 'out', 'two\nlines.txt'), 'y\n');
    const store = join(dir, 'store');
    expect(runCkpt(['--store', store, 'commit', '--step', '1', 'out'], { cwd: dir }).code).toBe(0);
    for (const command of [
      ['inspect', 'latest'],
      ['show', 'latest'],
      ['diff', '1', '1'],
    ]) {
      const r = runCkpt(['--store', store, ...command], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not be there
      expect(r.stdout, command.join(' ')).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
      expect(r.stdout, command.join(' ')).not.toMatch(/^lines\.txt/m);
    }
    const text = runCkpt(['--store', store, 'inspect', 'latest'], { cwd: dir }).stdout;
    expect(text).toContain('  | \\x1b[31mred\\x1b[0m and \\x1b]0;TITLE\\x07 osc\tand a tab');
    expect(text).toContain('  out/esc\\x1b[2Jname.txt  2 B  text');
    expect(text).toContain('  out/two\\x0alines.txt  2 B  text');
  });
});

describe('the Python reader: load_value', () => {
  it.skipIf(skipWithout(PYTHON3))(
    'returns the numbers the library saved, bit for bit, as numpy arrays and as array.array',
    async () => {
      const dir = tmp();
      const state = makeState();
      const store = await saveStates(dir, [state]);
      const script = `
import json, math, sys
sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, 'examples', 'python'))})
from read_store import load_value
out = {}
for use_numpy in (True, False):
    try:
        v = load_value(sys.argv[1], "latest", use_numpy=use_numpy)
    except ImportError:
        continue
    arrays = {"field": v["field"], "empty": v["empty"], "counts": v["counts"], "zeros": v["zeros"],
              "w0": v["model"]["weights"][0], "tags_b": v["tags"]["b"]}
    out["numpy" if use_numpy else "array"] = {
        "types": {k: type(a).__module__ + "." + type(a).__name__ for k, a in arrays.items()},
        "hex": {k: a.tobytes().hex() for k, a in arrays.items()},
        "step": v["step"], "name": v["model"]["name"], "raw": v["raw"].hex(),
        "when": v["when"].isoformat(), "seen": sorted(map(str, v["seen"])),
    }
print(json.dumps(out))
`;
      const r = spawnSync('python3', ['-c', script, store], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout) as Record<
        string,
        { types: Record<string, string>; hex: Record<string, string> }
      >;
      const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
      const expected = {
        field: hex(state.field),
        empty: '',
        counts: hex(state.counts),
        zeros: hex(state.zeros),
        w0: hex(state.model.weights[0]!),
        tags_b: hex(state.tags.get('b') as Int16Array),
      };
      expect(got.array!.hex).toEqual(expected);
      expect(Object.values(got.array!.types).every((t) => t === 'array.array')).toBe(true);
      expect(got.array).toMatchObject({
        step: 1,
        name: 'net',
        raw: '6869',
        when: '2026-12-07T00:00:00+00:00',
        seen: ['1', 'x'],
      });
      const numpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
      if (numpy) {
        expect(got.numpy!.hex).toEqual(expected);
        expect(Object.values(got.numpy!.types).every((t) => t === 'numpy.ndarray')).toBe(true);
      } else {
        console.warn(
          'numpy is not installed for python3: only the array.array path was checked (apt-get install python3-numpy).',
        );
      }
    },
  );
});
