/**
 * A directory of stores (a job array's `store-%a`) with damaged stores in it: each damaged one is
 * a row that says it cannot be read and why, and the others are reported as usual; the whole
 * report, and `ckpt report --html`, go on.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readReport } from '../../src/report/index.js';
import { runCkpt } from '../helpers/cli.js';
import { requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const tmp = useTempDirs('ckpt-report-dir-');

describe('a report of a directory of stores, some damaged', () => {
  beforeAll(() => requireBuild());

  it('shows each damaged store as unreadable with why, and every other store as usual', async () => {
    const dir = tmp();
    for (let i = 0; i < 4; i++) {
      const work = join(dir, `work-${i}`);
      mkdirSync(work);
      writeFileSync(join(work, 'state.txt'), `${i}\n`);
      const r = runCkpt(['--store', join(dir, 'arr', `store-${i}`), 'commit', '--step', '1', 'state.txt'], {
        cwd: work,
      });
      expect(r.code, r.stderr).toBe(0);
    }
    writeFileSync(join(dir, 'arr', 'store-1', 'ckpt-store.json'), 'garbage');
    rmSync(join(dir, 'arr', 'store-2', 'manifests'), { recursive: true });
    symlinkSync(dir, join(dir, 'arr', 'store-2', 'manifests'));

    const report = await readReport(join(dir, 'arr'));
    if (report.kind !== 'directory') throw new Error('not a directory report');
    const byName = new Map(report.jobs.map((j) => [j.name, j]));
    expect([...byName.keys()]).toEqual(['store-0', 'store-1', 'store-2', 'store-3']);
    for (const name of ['store-1', 'store-2']) {
      expect(byName.get(name)!.status.state, name).toBe('store-unreadable');
      expect(byName.get(name)!.warnings[0], name).toMatch(/^This store cannot be read: .*store-\d/);
    }
    expect(byName.get('store-2')!.warnings[0]).toContain('is a symlink');
    for (const name of ['store-0', 'store-3']) {
      expect(
        byName.get(name)!.checkpoints.map((c) => c.seq),
        name,
      ).toEqual([1]);
      expect(byName.get(name)!.resumeFrom, name).toBe(1);
    }
    const html = join(dir, 'arr.html');
    const r = runCkpt(['--store', join(dir, 'arr'), 'report', '--html', html], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(4 stores)');
  });
});
