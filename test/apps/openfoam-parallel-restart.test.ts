/**
 * Before a restart of a decomposed OpenFOAM case, every processor must resume from the same time:
 * the adapter sets aside each processor's torn time directories, then every time newer than the
 * newest one all processors hold complete (a crash between two ranks' writes leaves them apart).
 * And a capture selects that common time of every processor, complete, or nothing.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openfoamApp } from '../../src/apps/openfoam.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs('ckpt-openfoam-parallel-');
const FOOTER = '// ************************************************************************* //\n';

/** A decomposed case: `times[p]` lists processor p's time directories, `torn` those cut short. */
function decomposedCase(times: string[][], torn: string[] = []): string {
  const dir = tempDir();
  for (const [p, list] of times.entries()) {
    for (const time of ['0', ...list]) {
      mkdirSync(join(dir, `processor${p}`, time), { recursive: true });
      for (const field of ['U', 'p']) {
        const cut = torn.includes(`processor${p}/${time}`) && field === 'p';
        writeFileSync(join(dir, `processor${p}`, time, field), cut ? 'data' : `data\n${FOOTER}`);
      }
    }
  }
  return dir;
}

const app = (cwd: string) =>
  openfoamApp({ command: ['mpirun', '-np', '2', 'icoFoam', '-parallel'], cwd, everyMs: undefined });

describe('openfoam -parallel: restarting every processor from one time', () => {
  it('sets aside torn times, then every time not all processors hold', async () => {
    const dir = decomposedCase(
      [
        ['0.02', '0.04', '0.06'],
        ['0.02', '0.04', '0.06'],
      ],
      ['processor1/0.06', 'processor1/0.04'],
    );
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await app(dir).beforeStart!(dir);
    } finally {
      err.mockRestore();
    }
    for (const p of ['processor0', 'processor1']) {
      expect(readdirSync(join(dir, p)).sort()).toEqual(['0', '0.02']);
    }
    const aside = join(dir, '.ckpt-aside');
    const [stamp] = readdirSync(aside);
    expect(readdirSync(join(aside, stamp!, 'processor0')).sort()).toEqual(['0.04', '0.06']);
    expect(readdirSync(join(aside, stamp!, 'processor1')).sort()).toEqual(['0.04', '0.06']);
  });

  it('captures the newest time that every processor holds, complete', async () => {
    const dir = decomposedCase([['0.02', '0.04'], ['0.02']]);
    const files = (times: string[][]) =>
      times.flatMap((list, p) => list.flatMap((t) => ['U', 'p'].map((f) => `processor${p}/${t}/${f}`)));
    const capture = app(dir).capture!;
    const selected = capture.select!(
      files([
        ['0', '0.02', '0.04'],
        ['0', '0.02'],
      ]),
    );
    expect(selected.sort()).toEqual(files([['0.02'], ['0.02']]).sort());
    expect(await capture.isComplete!(selected, dir)).toBe(true);
    expect(
      await capture.isComplete!(
        selected.filter((f) => f !== 'processor1/0.02/p'),
        dir,
      ),
    ).toBe(false);
    expect(capture.stepOf!(selected)).toBe(0.02);
    expect(existsSync(join(dir, '.ckpt-aside'))).toBe(false);
  });
});
