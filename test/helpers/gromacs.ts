/** GROMACS runs compared bit for bit (test/apps/gromacs*.test.ts). */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

/** What must come out bitwise identical: energies, full-precision x/v frames, final structure. */
export const RESULTS = ['md.edr', 'md.trr', 'md.gro'];

/** An uninterrupted run's result files. */
export interface GromacsReference {
  files: Map<string, Buffer>;
}

/** The result files in `cwd` equal the reference's, byte for byte (the energies shown on a mismatch). */
export function expectSameResults(cwd: string, ref: GromacsReference, context: string): void {
  for (const f of RESULTS) {
    const path = join(cwd, f);
    expect(existsSync(path), `${f} missing\n${context}`).toBe(true);
    const got = readFileSync(path);
    const want = ref.files.get(f)!;
    if (!got.equals(want)) {
      let detail = `${f}: ${got.length} bytes, reference ${want.length}`;
      if (f === 'md.edr') detail += `\n${firstEnergyDifference(path, want)}`;
      expect.fail(`${detail}\n${context}`);
    }
  }
}

/** The first line where `gmx dump -e` of two energy files differ (a diagnostic). */
function firstEnergyDifference(path: string, reference: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-gromacs-edr-'));
  try {
    const refPath = join(dir, 'ref.edr');
    cpSync(path, join(dir, 'got.edr'));
    writeFileSync(refPath, reference);
    const dump = (p: string): string[] =>
      spawnSync('gmx', ['-quiet', 'dump', '-e', p], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split(
        '\n',
      );
    const a = dump(join(dir, 'got.edr'));
    const b = dump(refPath);
    const i = a.findIndex((line, n) => line !== b[n]);
    return i < 0
      ? 'gmx dump -e shows no difference'
      : `gmx dump -e line ${i}: got\n${a[i]}\nreference\n${b[i]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
