/**
 * examples/flow/: the parameter sweep runs to its end with the analysis the cases give; a rerun
 * runs nothing; editing one case reruns that case's simulation and the analysis, nothing else.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { runCkpt } from '../helpers/cli.js';
import { describeNeeds, PYTHON3 } from '../helpers/needs.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

const tmp = useTempDirs('ckpt-flow-example-');

beforeAll(requireBuild);

/** The tasks a run's output says it ran. */
const ran = (stdout: string) => [...stdout.matchAll(/\] done {5}(\S+)/g)].map((m) => m[1]).sort();

/** The summary's rows as [temperature, energy, exact energy]. */
function summaryRows(dir: string): number[][] {
  const lines = readFileSync(join(dir, 'summary.txt'), 'utf8').trim().split('\n');
  return lines.slice(1, -1).map((line) => line.trim().split(/\s+/).slice(0, 3).map(Number));
}

describeNeeds('examples/flow: a parameter sweep and its analysis', PYTHON3, () => {
  it('runs to the end, reruns nothing, and after one case is edited only that case and the analysis', () => {
    const dir = tmp();
    cpSync(join(REPO_ROOT, 'examples', 'flow'), dir, { recursive: true });
    const first = runCkpt(['flow', 'run', '--jobs', '2'], { cwd: dir, timeoutMs: 120_000 });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(ran(first.stdout)).toEqual([
      'analyse',
      'simulate[case=cold]',
      'simulate[case=hot]',
      'simulate[case=mild]',
    ]);
    const rows = summaryRows(dir);
    expect(rows.map((r) => r[0])).toEqual([0.5, 1, 2]);
    // The Monte Carlo energy per spin is near the exact one of the chain, -tanh(1/T).
    for (const [t, energy, exact] of rows) {
      expect(exact).toBeCloseTo(-Math.tanh(1 / t!), 5);
      expect(Math.abs(energy! - exact!)).toBeLessThan(0.05);
    }

    const again = runCkpt(['flow', 'run'], { cwd: dir, timeoutMs: 60_000 });
    expect(again.stdout).toContain('0 ran, 4 cached');

    const hot = join(dir, 'cases', 'hot.json');
    writeFileSync(hot, readFileSync(hot, 'utf8').replace('"temperature": 2.0', '"temperature": 3.0'));
    const why = runCkpt(['flow', 'why', 'simulate'], { cwd: dir });
    expect(why.stdout).toMatch(
      /simulate\[case=hot\]: will run\n {2}input cases\/hot.json: [0-9a-f]{12} → [0-9a-f]{12}/,
    );
    const third = runCkpt(['flow', 'run'], { cwd: dir, timeoutMs: 120_000 });
    expect(third.code).toBe(0);
    expect(ran(third.stdout)).toEqual(['analyse', 'simulate[case=hot]']);
    expect(third.stdout).toContain('2 ran, 2 cached');
    expect(summaryRows(dir).map((r) => r[0])).toEqual([0.5, 1, 3]);
  }, 240_000);
});
