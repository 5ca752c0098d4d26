import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileHasher, SYNC_HASH_BYTES } from '../../src/flow/file-hash.js';
import {
  diffComponents,
  type KeyComponent,
  type KeyParts,
  keyComponents,
  keyOf,
  UNSET,
} from '../../src/flow/task-key.js';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-flow-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parts = async (command: string, env: NodeJS.ProcessEnv = {}, inputs = ['in.txt']) =>
  (await keyComponents({ command, inputs }, ['MODE'], [], dir, await FileHasher.open(undefined), env))
    .components;

describe('task keys', () => {
  it('change with the command, an input, a named env value and an upstream key, and with nothing else', async () => {
    writeFileSync(join(dir, 'in.txt'), 'a');
    const base = keyOf(await parts('echo 1'));
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(keyOf(await parts('echo 1', { OTHER: 'x' }))).toBe(base);
    expect(keyOf(await parts('echo 2'))).not.toBe(base);
    expect(keyOf(await parts('echo 1', { MODE: 'fast' }))).not.toBe(base);
    expect((await parts('echo 1')).find((c) => c.kind === 'env')!.hash).toBe(UNSET);
    writeFileSync(join(dir, 'in.txt'), 'b');
    expect(keyOf(await parts('echo 1'))).not.toBe(base);
    const up = (key: string | null): KeyComponent[] => [{ kind: 'upstream', name: 'gen', hash: key }];
    expect(keyOf(up('a'))).not.toBe(keyOf(up('b')));
    expect(keyOf(up(null))).toBeNull();
  });

  it('name a missing input instead of failing', async () => {
    const result = await keyComponents(
      { command: 'x', inputs: ['nope.txt'] },
      [],
      [],
      dir,
      await FileHasher.open(undefined),
      {},
    );
    expect(result.missing).toEqual(['nope.txt']);
  });

  it('read a large input in the background, a small one and a cached one at once, with the same hashes', async () => {
    const big = Buffer.alloc(3 * SYNC_HASH_BYTES + 7, 1);
    writeFileSync(join(dir, 'big.bin'), big);
    writeFileSync(join(dir, 'small.txt'), 'small');
    const hasher = await FileHasher.open(undefined);
    const task = { command: 'x', inputs: ['big.bin', 'small.txt', 'gone.txt', '*.bin'] };
    const first = keyComponents(task, [], [], dir, hasher, {});
    expect(first).toBeInstanceOf(Promise); // big.bin is streamed
    const read = await first;
    const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
    expect(read.components.filter((c) => c.kind === 'input')).toEqual([
      { kind: 'input', name: 'big.bin', hash: sha(big) },
      { kind: 'input', name: 'small.txt', hash: sha('small') },
    ]);
    expect(read.missing).toEqual(['gone.txt']);
    // Once hashed and no longer racy, nothing is read: the answer comes without a promise.
    const old = new Date(Date.now() - 60_000);
    for (const f of ['big.bin', 'small.txt']) utimesSync(join(dir, f), old, old);
    await keyComponents(task, [], [], dir, hasher, {});
    const cached = keyComponents(task, [], [], dir, hasher, {});
    expect(cached).not.toBeInstanceOf(Promise);
    expect((cached as KeyParts).components).toEqual(read.components);
  });

  it('diff: changed, new and removed parts with old and new hash', () => {
    const before: KeyComponent[] = [
      { kind: 'input', name: 'a', hash: '1' },
      { kind: 'input', name: 'b', hash: '2' },
    ];
    const now: KeyComponent[] = [
      { kind: 'input', name: 'a', hash: '3' },
      { kind: 'input', name: 'c', hash: '4' },
    ];
    expect(diffComponents(before, now)).toEqual([
      { kind: 'input', name: 'a', old: '1', new: '3', from: undefined },
      { kind: 'input', name: 'c', old: undefined, new: '4', from: undefined },
      { kind: 'input', name: 'b', old: '2', new: undefined },
    ]);
  });
});

describe('the file hash cache', () => {
  it('trusts an entry by path, size, mtime and inode, but rereads one hashed right after a change', async () => {
    const cache = join(dir, 'cache.json');
    const file = join(dir, 'big.txt');
    writeFileSync(file, 'one');
    const old = new Date(Date.now() - 60_000);
    utimesSync(file, old, old);
    const first = await FileHasher.open(cache);
    const h1 = await first.hash(file);
    await first.save();
    // Same size and mtime, different bytes: a trusted entry is not reread (this is the cache).
    writeFileSync(file, 'two');
    utimesSync(file, old, old);
    expect((await (await FileHasher.open(cache)).hash(file)).hash).toBe(h1.hash);
    // A file changed just before it was hashed is racy: the next check rereads it.
    writeFileSync(file, 'new');
    const racy = await FileHasher.open(cache);
    const h2 = await racy.hash(file);
    await racy.save();
    writeFileSync(file, 'NEW');
    const again = await (await FileHasher.open(cache)).hash(file);
    expect(again.hash).not.toBe(h2.hash);
  });
});
