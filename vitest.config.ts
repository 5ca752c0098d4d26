import { globSync } from 'tinyglobby';
import { defineConfig, type TestProjectConfiguration } from 'vitest/config';

/**
 * The slow tiers: each runs on its own with `npm run test:<tier>`; `npm run test:fast` runs every
 * other file (store, state, checkpointer, CLI, pure functions, `*.unit.test.ts` anywhere), and
 * `npm test` runs them all. A file in no slow tier is fast; test/tiers.test.ts checks the globs.
 */
export const SLOW_TIERS: Record<string, string[]> = {
  /** Kill -9 at random moments, and the corruption fuzzer. */
  torture: [
    'test/checkpointer/torture.test.ts',
    'test/supervisor/capture-torture.test.ts',
    'test/store/corruption-fuzz.test.ts',
  ],
  /** The real local SLURM cluster (scripts/local-slurm.sh). */
  slurm: ['test/slurm/**/*.test.ts'],
  /** The real GROMACS, LAMMPS, OpenFOAM and PyTorch. */
  apps: ['test/apps/**/*.test.ts'],
  /** Supervised real programs, workflows, the examples and MPI jobs, killed and resumed; the dashboard in Chromium. */
  processes: [
    'test/supervisor/**/*.test.ts',
    'test/examples/**/*.test.ts',
    'test/flow/**/*.test.ts',
    'test/report/**/*.test.ts',
    'test/parallel/**/*.test.ts',
  ],
};
/** Pure functions, tested without starting anything: fast wherever they live. */
export const UNIT_TESTS = 'test/**/*.unit.test.ts';

/**
 * The test files of a tier. A unit test is fast wherever it lives; any other file belongs to the
 * first slow tier that names it, and is fast when none does.
 */
export function tierFiles(name: string): string[] {
  const units = new Set(globSync(UNIT_TESTS));
  const tierOf = new Map<string, string>();
  for (const [slow, globs] of Object.entries(SLOW_TIERS)) {
    for (const file of globSync(globs)) if (!units.has(file) && !tierOf.has(file)) tierOf.set(file, slow);
  }
  return globSync('test/**/*.test.ts')
    .filter((file) => (tierOf.get(file) ?? 'fast') === name)
    .sort();
}

const tier = process.env.CKPT_TEST_TIER;
if (tier !== undefined && tier !== 'fast' && !(tier in SLOW_TIERS)) {
  throw new Error(
    `CKPT_TEST_TIER=${tier} is not a test tier. Use one of: fast, ${Object.keys(SLOW_TIERS).join(', ')}.`,
  );
}

/** Timeouts for real processes and real fsyncs on a loaded 2-core machine. */
const TIMEOUTS = { testTimeout: 60_000, hookTimeout: 60_000 };

/**
 * The whole suite runs in two lanes at once, each one file at a time: the SLURM tests (one shared
 * cluster, so never two files together; mostly waiting on the scheduler) and the real apps in a
 * worker thread, everything else in a forked process (some tests set the process umask, which a
 * thread cannot). vitest runs projects of different pools side by side, so the lanes overlap and
 * the suite takes about as long as its longer lane. A single tier runs in one lane.
 */
function lanes(): TestProjectConfiguration[] {
  // Balanced by measured time (a full run, CI run 2 of 2026-12-07: the SLURM and app tests
  // 1516 s, everything else 959 s; so the app tests that start no real app, the Keras stand-in
  // and the CheckpointManager writer (115 s), and the checkpointer torture and the examples
  // (126 s), run in the other lane; NWChem (about 110 s) went there too when it came).
  const inOtherLane = ['test/apps/keras.test.ts', 'test/apps/tf-capture.test.ts', 'test/apps/nwchem.test.ts'];
  const threaded = [...tierFiles('slurm'), ...tierFiles('apps')].filter(
    (file) => !inOtherLane.includes(file),
  );
  const others = globSync('test/**/*.test.ts').filter((file) => !threaded.includes(file));
  return [
    {
      test: {
        name: 'slurm+apps',
        include: threaded,
        pool: 'threads',
        poolOptions: { threads: { singleThread: true } },
        ...TIMEOUTS,
      },
    },
    {
      test: {
        name: 'others',
        include: others,
        pool: 'forks',
        poolOptions: { forks: { singleFork: true } },
        ...TIMEOUTS,
      },
    },
  ];
}

export default defineConfig({
  test:
    tier === undefined
      ? { projects: lanes() }
      : { include: tierFiles(tier), ...TIMEOUTS, fileParallelism: false },
});
