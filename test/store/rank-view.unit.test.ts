/**
 * What a restore of a multi-rank checkpoint writes (entriesToRestore), and how a manifest's
 * `ranks` and `rank` fields are checked when it is parsed.
 */
import { describe, expect, it } from 'vitest';
import { FormatError, UsageError } from '../../src/errors.js';
import { type Entry, entriesToRestore } from '../../src/store/index.js';
import { validateManifest } from '../../src/store/manifest.js';
import { sampleManifest } from '../helpers/store.js';

const dir = (path: string, rank: number): Entry => ({ type: 'dir', path, mode: 0o755, rank });
const link = (path: string, rank: number): Entry => ({ type: 'symlink', path, target: 'x', rank });
const ranked = (entries: Entry[], ranks = 2) => sampleManifest({ version: 3, ranks, entries });

describe('entriesToRestore', () => {
  it('gives one rank its entries, without their rank', () => {
    const m = ranked([link('a', 0), link('b', 1), dir('d', 0), dir('d', 1)]);
    expect(entriesToRestore(m, { rank: 1, ranks: 2 })).toEqual([
      { type: 'symlink', path: 'b', target: 'x' },
      { type: 'dir', path: 'd', mode: 0o755 },
    ]);
  });

  it('refuses another rank count, and a single-rank checkpoint for a rank of several', () => {
    expect(() => entriesToRestore(ranked([]), { rank: 0, ranks: 3 })).toThrow(
      /committed by 2 ranks, and this restore is for rank 0 of 3/,
    );
    expect(() => entriesToRestore(sampleManifest(), { rank: 1, ranks: 2 })).toThrow(
      /committed by one process/,
    );
    expect(entriesToRestore(sampleManifest({ entries: [link('a', 0)] }), { rank: 0, ranks: 1 })).toHaveLength(
      1,
    );
  });

  it('gives all ranks’ entries when no two collide, each shared directory once', () => {
    const m = ranked([dir('d', 0), link('d/a', 0), dir('d', 1), link('d/b', 1)]);
    expect(entriesToRestore(m).map((e) => (e as { path: string }).path)).toEqual(['d', 'd/a', 'd/b']);
  });

  it('refuses two ranks’ entries at one path, or one rank’s file where another’s tree goes', () => {
    for (const entries of [
      [link('state', 0), link('state', 1)],
      [link('d', 0), dir('d', 1)],
      [link('d', 0), dir('e', 1), link('d/x', 1)],
    ]) {
      expect(() => entriesToRestore(ranked(entries))).toThrow(UsageError);
      expect(() => entriesToRestore(ranked(entries))).toThrow(
        /of rank 0 and of rank 1: restoring every rank/,
      );
    }
  });
});

describe('validateManifest: ranks', () => {
  const check = (m: unknown) => () => validateManifest(JSON.parse(JSON.stringify(m)), '#1');

  it('accepts a version 3 manifest whose entries all have a rank below ranks, a path once per rank', () => {
    expect(check(ranked([link('a', 0), link('a', 1)]))).not.toThrow();
  });

  it('refuses a rank count or a rank that does not fit, and a path twice in one rank', () => {
    const cases: [unknown, RegExp][] = [
      [sampleManifest({ version: 3, entries: [] }), /`ranks` is not a rank count/],
      [ranked([], 0), /`ranks` is not a rank count/],
      [sampleManifest({ version: 2, ranks: 2, entries: [] }), /`ranks` appears in a version 2 manifest/],
      [ranked([link('a', 2)]), /`rank` 2 is not a rank of 2/],
      [ranked([{ type: 'symlink', path: 'a', target: 'x' }]), /`rank` undefined is not a rank of 2/],
      [sampleManifest({ version: 2, entries: [link('a', 0)] }), /a `rank` in a single-rank manifest/],
      [ranked([link('a', 1), link('a', 1)]), /"a" appears twice in rank 1/],
    ];
    for (const [m, message] of cases) {
      expect(check(m)).toThrow(FormatError);
      expect(check(m)).toThrow(message);
    }
  });
});
