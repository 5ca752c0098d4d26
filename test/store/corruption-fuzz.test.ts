import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { manifestChunks, Store } from '../../src/store/index.js';
import { manifestPath } from '../../src/store/layout.js';
import { seededBytes, writeFileDeep } from '../helpers/bytes.js';
import { ckpt, fingerprint } from '../helpers/hostile.js';
import { chunkSpot } from '../helpers/store.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs('ckpt-fuzz-');
/** At least 1000 cases in CI (the bar); fewer on a developer's run. */
const RUNS = process.env.CI ? 1000 : Number(process.env.CKPT_FUZZ_RUNS ?? 150);

type Kind = 'manifest' | 'chunk' | 'journal' | 'identity';
type Damage =
  | { op: 'flip'; file: number; at: number; bit: number }
  | { op: 'truncate'; file: number; keep: number }
  | { op: 'delete'; file: number }
  | { op: 'duplicate'; file: number; onto: number }
  | { op: 'swap'; file: number; onto: number }
  | { op: 'dir' | 'fifo' | 'symlink'; file: number };

interface Base {
  store: string;
  /** Every file of the undamaged store, by path relative to it. */
  originals: Map<string, Buffer>;
  /** Each checkpoint's manifest file and where the chunks it references are (relative file, byte range). */
  references: Map<string, Array<{ rel: string; at: number; length: number }>>;
  victim: string;
  victimPrint: Record<string, string>;
  /** Each checkpoint's files as committed, by seq. */
  contents: Map<number, Map<string, Buffer>>;
}

let base: Base;

/** Three checkpoints of a small tree (one file large enough for several chunks, one compressible). */
beforeAll(async () => {
  const dir = tempDir();
  const work = join(dir, 'work');
  const store = join(dir, 'store');
  const victim = join(dir, 'victim');
  writeFileDeep(join(victim, 'keep.txt'), 'outside the store');
  const contents = new Map<number, Map<string, Buffer>>();
  for (const step of [1, 2, 3]) {
    const files = new Map<string, Buffer>([
      ['big.bin', Buffer.concat([seededBytes(1, 400_000), seededBytes(step, 300_000)])],
      ['log.txt', Buffer.from(`line ${step}\n`.repeat(2000 + step))],
      ['sub/small.txt', Buffer.from(`small ${step}`)],
    ]);
    for (const [path, data] of files) writeFileDeep(join(work, path), data);
    const r = await ckpt(
      store,
      'commit',
      '--step',
      String(step * 10),
      '--cwd',
      work,
      'big.bin',
      'log.txt',
      'sub',
    );
    expect(r.code, r.err).toBe(0);
    contents.set(step, files);
  }
  const originals = new Map<string, Buffer>();
  for (const { path } of storeFiles(store)) originals.set(relative(store, path), readFileSync(path));
  const references = new Map<string, Array<{ rel: string; at: number; length: number }>>();
  const opened = await Store.open(store);
  for (const seq of await opened.listSeqs()) {
    const m = await opened.readManifest(seq);
    references.set(
      relative(store, manifestPath(store, seq)),
      manifestChunks(m).map((c) => {
        const spot = chunkSpot(store, c);
        return { rel: relative(store, spot.path), at: spot.at, length: spot.length };
      }),
    );
  }
  base = { store, originals, references, victim, victimPrint: fingerprint(victim), contents };
}, 60_000);

/** The store's files that damage can hit, in a stable order, with their kinds. */
function storeFiles(store: string): Array<{ path: string; kind: Kind }> {
  const out: Array<{ path: string; kind: Kind }> = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (lstatSync(path).isDirectory()) walk(path);
      else {
        const rel = relative(store, path);
        const kind: Kind = rel.startsWith('manifests/')
          ? 'manifest'
          : rel.startsWith('chunks/')
            ? 'chunk'
            : rel.startsWith('packs/')
              ? 'chunk'
              : rel === 'journal.log'
                ? 'journal'
                : 'identity';
        out.push({ path, kind });
      }
    }
  };
  walk(store);
  return out;
}

const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({
    op: fc.constant('flip' as const),
    file: fc.nat(),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ op: fc.constant('truncate' as const), file: fc.nat(), keep: fc.nat() }),
  fc.record({ op: fc.constant('delete' as const), file: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), file: fc.nat(), onto: fc.nat() }),
  fc.record({ op: fc.constant('swap' as const), file: fc.nat(), onto: fc.nat() }),
  fc.record({ op: fc.constantFrom('dir' as const, 'fifo' as const, 'symlink' as const), file: fc.nat() }),
);

/**
 * Whether a manifest still reads as it was: the same bytes, but for whitespace after the checksum
 * line, which docs/format.md (4.1) lets a reader accept (a cut that removes only the final `\n`).
 */
function intactManifest(store: string, rel: string): boolean {
  const path = join(store, rel);
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat?.isFile() !== true) return false;
  const now = readFileSync(path).toString('latin1');
  const was = base.originals.get(rel)!.toString('latin1');
  return now === was || (now.trimEnd() === was.trimEnd() && now.startsWith(was.trimEnd()));
}

/** Whether bytes [at, at + length) of `rel` are still what they were, in a regular file. */
function intactRange(store: string, rel: string, at: number, length: number): boolean {
  const path = join(store, rel);
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (stat?.isFile() !== true || stat.size < at + length) return false;
  const now = readFileSync(path).subarray(at, at + length);
  return now.equals(base.originals.get(rel)!.subarray(at, at + length));
}

/**
 * What `verify --deep` must say of the damaged store: true (exit 3) when a non-regular file sits
 * where a store file was, when a checkpoint whose
 * manifest is still there lost or changed a byte of itself or of a chunk it references, or the
 * journal was changed in a way no killed writer leaves (not a regular file, or a flipped byte with
 * no truncation after it); false when nothing a reader checks changed; undefined when the journal
 * was both flipped and cut (a flipped byte inside a torn last line is indistinguishable from one).
 */
function expectedDamage(
  store: string,
  damages: readonly Damage[],
  journalFlipped: boolean,
  journalCut: boolean,
): boolean | undefined {
  // Something ckpt never writes (a directory, FIFO or symlink) where its file was is reported.
  for (const rel of base.originals.keys()) {
    const stat = lstatSync(join(store, rel), { throwIfNoEntry: false });
    if (stat && !stat.isFile()) return true;
  }
  for (const [manifest, chunks] of base.references) {
    const stat = lstatSync(join(store, manifest), { throwIfNoEntry: false });
    if (!stat) continue; // deleted: that checkpoint is gone, not damaged
    if (!intactManifest(store, manifest) || chunks.some((c) => !intactRange(store, c.rel, c.at, c.length)))
      return true;
  }
  const journal = lstatSync(join(store, 'journal.log'), { throwIfNoEntry: false });
  if (journal && !journal.isFile()) return true;
  if (journalFlipped && !journalCut) return true;
  if (journalFlipped) return undefined;
  void damages;
  return false;
}

/**
 * Applies one damage; says whether it hit the store's identity file, and whether it flipped or
 * cut the journal.
 */
function applyDamage(
  store: string,
  victim: string,
  d: Damage,
): { identity: boolean; journal?: 'flip' | 'cut' } {
  const files = storeFiles(store);
  if (files.length === 0) return { identity: false };
  const target = files[d.file % files.length]!;
  const { path, kind } = target;
  const isFile = lstatSync(path).isFile();
  const size = isFile ? statSync(path).size : 0;
  const identity = kind === 'identity';
  const journal = kind === 'journal';
  switch (d.op) {
    case 'flip': {
      if (!isFile || size === 0) return { identity: false };
      const bytes = readFileSync(path);
      const at = d.at % size;
      bytes[at] = bytes[at]! ^ (1 << d.bit);
      writeFileSync(path, bytes);
      return journal ? { identity, journal: 'flip' } : { identity };
    }
    case 'truncate': {
      if (!isFile || size === 0) return { identity: false };
      truncateSync(path, d.keep % size);
      // A journal cut short is what a killed writer leaves: harmless by design.
      return journal ? { identity, journal: 'cut' } : { identity };
    }
    case 'delete':
      rmSync(path, { force: true });
      return journal ? { identity, journal: 'cut' } : { identity };
    case 'duplicate':
    case 'swap': {
      const other = files[d.onto % files.length]!;
      if (other.path === path || other.kind !== kind || !isFile || !lstatSync(other.path).isFile())
        return { identity: false };
      if (d.op === 'duplicate') copyFileSync(path, other.path);
      else {
        renameSync(path, `${path}.swap`);
        renameSync(other.path, path);
        renameSync(`${path}.swap`, other.path);
      }
      return { identity };
    }
    case 'dir':
    case 'fifo':
    case 'symlink': {
      rmSync(path, { recursive: true, force: true });
      if (d.op === 'dir') mkdirSync(path);
      else if (d.op === 'fifo') execFileSync('mkfifo', [path]);
      else symlinkSync(join(victim, 'keep.txt'), path);
      return { identity };
    }
  }
}

function expectBytesOf(seq: number, out: string): void {
  const files = base.contents.get(seq);
  expect(files, `checkpoint #${seq} restored, but it was never committed`).toBeDefined();
  for (const [path, data] of files!) {
    expect(readFileSync(join(out, path)).equals(data), `${path} of #${seq}`).toBe(true);
  }
}

describe('corruption fuzzer over a real store', () => {
  it(`after random damage (${RUNS} cases): verify reports it, why names what restore uses, restore gives its exact bytes, prune keeps it`, async () => {
    let detectableCases = 0;
    let fallbacks = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(damageArb, { minLength: 1, maxLength: 3 }), async (damages) => {
        const dir = tempDir();
        const store = join(dir, 'store');
        cpSync(base.store, store, { recursive: true });
        let identity = false;
        let journalFlipped = false;
        let journalCut = false;
        for (const d of damages) {
          const hit = applyDamage(store, base.victim, d);
          identity ||= hit.identity;
          if (hit.journal === 'flip') journalFlipped = true;
          if (hit.journal === 'cut' && journalFlipped) journalCut = true;
        }
        const detectable = expectedDamage(store, damages, journalFlipped, journalCut);
        const verify = await ckpt(store, 'verify', '--deep');
        if (identity && verify.code !== 0 && verify.code !== 3) {
          // The store's identity file is damaged: every command refuses the store, clearly.
          expect(verify.err).toMatch(/ckpt-store\.json|not a ckpt store|No store/);
          expect(fingerprint(base.victim)).toEqual(base.victimPrint);
          return;
        }
        expect([0, 3], verify.err).toContain(verify.code);
        if (detectable !== undefined) {
          expect(verify.code, `${JSON.stringify(damages)}\n${verify.out}`).toBe(detectable ? 3 : 0);
          if (detectable) detectableCases++;
        }
        const why = JSON.parse((await ckpt(store, 'why', '--json')).out) as {
          resumeFrom: { seq: number } | null;
        };
        const out = join(dir, 'out');
        const restore = await ckpt(store, 'restore', 'latest', '--to', out, '--json');
        if (why.resumeFrom === null) {
          expect(restore.code, restore.out).toBe(1);
          expect(restore.err).toMatch(/No checkpoint .* could be restored/);
        } else {
          expect(restore.code, `${JSON.stringify(damages)}\n${restore.err}`).toBe(0);
          const { seq } = JSON.parse(restore.out) as { seq: number };
          expect(seq, JSON.stringify(damages)).toBe(why.resumeFrom.seq);
          expectBytesOf(seq, out);
          if (seq !== 3) fallbacks++;
          const prune = await ckpt(store, 'prune', '--keep', '1');
          expect(prune.code, prune.err).toBe(0);
          const again = join(dir, 'again');
          const after = await ckpt(store, 'restore', 'latest', '--to', again, '--json');
          expect(after.code, after.err).toBe(0);
          expect((JSON.parse(after.out) as { seq: number }).seq).toBe(seq);
          expectBytesOf(seq, again);
        }
        expect(fingerprint(base.victim)).toEqual(base.victimPrint);
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: RUNS, seed: Number(process.env.CKPT_FUZZ_SEED ?? 20261201) },
    );
    // The fuzzer must have exercised damage that matters and fallbacks to older checkpoints.
    expect(detectableCases).toBeGreaterThan(RUNS / 3);
    expect(fallbacks).toBeGreaterThan(RUNS / 10);
    expect(existsSync(base.store)).toBe(true);
  }, 900_000);
});
