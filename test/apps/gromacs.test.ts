/**
 * GROMACS under `ckpt run --app gromacs`, end to end with the real `gmx mdrun` (Debian package
 * `gromacs`), through the shared scenarios of test/helpers/app-conformance.ts: the example in
 * examples/gromacs (884 SPC/E waters, 6000 steps on one thread) runs once bare as the
 * reference, then under ckpt (b) stopped by a SIGTERM to ckpt and resumed,
 * (c) with mdrun SIGKILLed and restarted by ckpt, (d) after a crash that left a torn md.cpt.
 * Every run must end bitwise identical to the reference: the energy file, the full-precision
 * trajectory frames and the final structure. Run `npm run build` first (the CLI runs from dist/).
 * Without gmx these tests are skipped, except under CI, where that fails them.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { describeConformance } from '../helpers/app-conformance.js';
import { type TornCheckpoint, useAppRuns } from '../helpers/app-runs.js';
import { expectSameResults, RESULTS, type GromacsReference as Reference } from '../helpers/gromacs.js';
import { describeNeeds, GROMACS } from '../helpers/needs.js';
import { REPO_ROOT } from '../helpers/repo.js';

const EXAMPLE = join(REPO_ROOT, 'examples', 'gromacs');
const MDRUN = ['gmx', 'mdrun', '-deffnm', 'md', '-nt', '1'];
const TIMEOUT = 240_000;

describeNeeds('GROMACS under ckpt run --app gromacs', GROMACS, () => {
  let prepared = '';
  const runs = useAppRuns<Reference>({
    prefix: 'ckpt-gromacs-',
    comm: 'gmx',
    command: MDRUN,
    runOptions: ['--app', 'gromacs', '--every', '0.1m'],
    prepare: (cwd) => copyFileSync(join(prepared, 'md.tpr'), join(cwd, 'md.tpr')),
    reference: (cwd) => ({ files: new Map(RESULTS.map((f) => [f, readFileSync(join(cwd, f))])) }),
    timeoutMs: TIMEOUT,
  });
  const { itRuns } = runs;

  beforeAll(() => {
    prepared = mkdtempSync(join(tmpdir(), 'ckpt-gromacs-tpr-'));
    const r = spawnSync('bash', [join(EXAMPLE, 'prepare.sh'), prepared], { encoding: 'utf8' });
    expect(r.status, `prepare.sh failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  });
  afterAll(() => {
    if (prepared) rmSync(prepared, { recursive: true, force: true });
  });

  describeConformance(runs, {
    app: 'gmx',
    stopsBy: 'mdrun checkpoints',
    reference(ref) {
      for (const f of RESULTS) expect(ref.files.get(f)!.length, f).toBeGreaterThan(0);
      expect(ref.ms).toBeGreaterThan(3_000);
    },
    stopped(_stopped, w, context) {
      // mdrun handled the TERM itself (one signal only: a second one gives a non-bitwise checkpoint).
      const log = readFileSync(join(w.cwd, 'md.log'), 'utf8');
      expect(log, context).toContain('Received the TERM signal');
      expect(log, context).not.toContain('Received the second');
      expect(existsSync(join(w.cwd, 'md.gro')), 'mdrun wrote its final structure after a stop').toBe(false);
    },
    resumedAfterStop(_ref, _resumed, w) {
      // Appended to the restored outputs, not -noappend part files.
      expect(readFileSync(join(w.cwd, 'md.log'), 'utf8')).toContain('Restarting from checkpoint, appending');
      expect(readdirSync(w.cwd).filter((f) => f.includes('.part'))).toEqual([]);
    },
    resumedAfterCrash(_ref, resumed, _w, context) {
      expect(resumed.stderr, context).not.toContain('Checkpoint file corrupted');
    },
    captureTimeoutMs: 60_000,
    torn: TORN_CPT,
    sameResult: (ref, w, _output, context) => expectSameResults(w.cwd, ref, context),
  });

  itRuns(
    '(e) -maxh ends each start early with a checkpoint and exit 0: ckpt exits 75 (not "finished") until the run is done',
    async (ref, w) => {
      // ~7 s per start (mdrun stops at 0.99 of it): the run takes several starts.
      const maxh = ['-maxh', '0.002'];
      const codes: Array<number | null> = [];
      let last: { code: number | null; stderr: string } | undefined;
      const logs: string[] = [];
      while (codes.length < 12 && last?.code !== 0) {
        last = await runs.start(w, [], maxh).exited;
        codes.push(last.code);
        logs.push(
          last.stderr
            .split('\n')
            .filter((l) => l.startsWith('ckpt:'))
            .join('\n'),
        );
      }
      const context = `exit codes ${codes.join(' ')}\n${logs.join('\n---\n')}\n${last?.stderr}`;
      expect(codes.at(-1), context).toBe(0);
      expect(codes.length, context).toBeGreaterThanOrEqual(2);
      expect(
        codes.slice(0, -1).every((c) => c === 75),
        context,
      ).toBe(true);
      expect(logs[0], context).toContain('the program stopped with a checkpoint (exit code 0)');
      expect(readFileSync(join(w.cwd, 'md.log'), 'utf8')).toContain('Run time exceeded');
      expectSameResults(w.cwd, ref, context);
    },
  );
});

/** A crash tears md.cpt in half; mdrun itself cannot restart from it. */
const TORN_CPT: TornCheckpoint & { what: string } = {
  what: 'md.cpt',
  finalFile: 'md.gro',
  tear(cwd) {
    const cpt = join(cwd, 'md.cpt');
    truncateSync(cpt, Math.floor(readFileSync(cpt).length / 2));
    return cpt;
  },
  restart: [...MDRUN, '-cpi', 'md.cpt'],
  failure: /Checkpoint file corrupted\/truncated/,
};
