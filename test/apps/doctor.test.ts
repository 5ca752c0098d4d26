/**
 * `ckpt doctor` for GROMACS and LAMMPS (the OpenFOAM and PyTorch checks are in their own test
 * files): settings that break checkpoints or exact restarts are flagged with their fix, errors
 * make it exit 1, a clean command passes with 0; the --json shape. LAMMPS inputs are the example
 * examples/lammps/in.melt with one part of ckpt's pattern taken out. The checks that expect
 * "installed" need gmx / lmp (Debian packages `gromacs`, `lammps`): skipped without them,
 * except under CI, where they fail.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCkpt } from '../helpers/cli.js';
import { GROMACS, LAMMPS, skipWithout } from '../helpers/needs.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';
import { useTempDirs } from '../helpers/tmp.js';

interface Finding {
  app: string;
  severity: 'ok' | 'warning' | 'error';
  code: string;
  message: string;
  fix?: string;
}

const EXAMPLE_INPUT = readFileSync(join(REPO_ROOT, 'examples', 'lammps', 'in.melt'), 'utf8');
/** Tests that need the app itself: skipped without it, unless CI is set (then they fail). */
const skipGmx = skipWithout(GROMACS);
const skipLmp = skipWithout(LAMMPS);

const tempDir = useTempDirs('ckpt-doctor-');

beforeAll(() => requireBuild());

/** `ckpt doctor --app APP --json -- COMMAND` in `cwd`. */
function doctor(app: string, command: string[], cwd: string): { status: number | null; findings: Finding[] } {
  const r = runCkpt(['doctor', '--app', app, '--json', '--', ...command], { cwd });
  expect(r.stderr).toBe('');
  const parsed = JSON.parse(r.stdout) as { findings: Finding[]; errors: number };
  expect(parsed.errors).toBe(parsed.findings.filter((f) => f.severity === 'error').length);
  return { status: r.code, findings: parsed.findings };
}

const codes = (findings: Finding[]): string[] => findings.map((f) => f.code);

/** A working directory holding `input` as in.melt. */
function withInput(input: string): string {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'in.melt'), input);
  return cwd;
}

/** The example input without the lines matching `drop` (and their `&` continuations). */
function without(drop: RegExp): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of EXAMPLE_INPUT.split('\n')) {
    if (!skipping && drop.test(line)) skipping = true;
    if (!skipping) out.push(line);
    if (skipping && !line.trimEnd().endsWith('&')) skipping = false;
  }
  return out.join('\n');
}

describe('ckpt doctor --app gromacs', () => {
  /** A .tpr of a small water box whose md.mdp is the example's with `pcoupl` set. */
  function tprWith(pcoupl: string): string {
    const cwd = tempDir();
    const mdp = readFileSync(join(REPO_ROOT, 'examples', 'gromacs', 'md.mdp'), 'utf8').replace(
      /^pcoupl\s*=.*$/m,
      pcoupl === 'no' ? 'pcoupl = no' : `pcoupl = ${pcoupl}\ntau-p = 2\nref-p = 1\ncompressibility = 4.5e-5`,
    );
    writeFileSync(join(cwd, 'md.mdp'), mdp);
    writeFileSync(join(cwd, 'topol.top'), readFileSync(join(REPO_ROOT, 'examples', 'gromacs', 'topol.top')));
    const gmx = (args: string[]) => {
      const r = spawnSync('gmx', ['-quiet', ...args], { cwd, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    };
    gmx(['solvate', '-cs', 'spc216.gro', '-box', '2.5', '2.5', '2.5', '-o', 'conf.gro', '-p', 'topol.top']);
    gmx(['grompp', '-f', 'md.mdp', '-c', 'conf.gro', '-p', 'topol.top', '-o', 'md.tpr', '-maxwarn', '5']);
    return cwd;
  }

  it.skipIf(skipGmx)(
    'pressure coupling that resumes inexactly (C-rescale, Parrinello-Rahman) is a warning read from the .tpr; none without',
    () => {
      for (const pcoupl of ['C-rescale', 'Parrinello-Rahman']) {
        const { status, findings } = doctor('gromacs', ['gmx', 'mdrun', '-deffnm', 'md'], tprWith(pcoupl));
        expect(status).toBe(0);
        const warning = findings.find((f) => f.code === 'GMX_NOT_BITWISE');
        expect(warning?.severity).toBe('warning');
        expect(warning?.message).toContain(`pcoupl = ${pcoupl} in md.tpr`);
      }
      for (const pcoupl of ['no', 'Berendsen']) {
        const { findings } = doctor('gromacs', ['gmx', 'mdrun', '-deffnm', 'md'], tprWith(pcoupl));
        expect(codes(findings)).toEqual(['INSTALLED']);
      }
    },
    60_000,
  );

  it.skipIf(skipGmx)('reports the installed version', () => {
    const { status, findings } = doctor('gromacs', ['gmx', 'mdrun', '-deffnm', 'md'], tempDir());
    expect(status).toBe(0);
    expect(findings).toEqual([
      {
        app: 'gromacs',
        severity: 'ok',
        code: 'INSTALLED',
        message: expect.stringMatching(/^gromacs: 20\d\d/),
      },
    ]);
  });

  it('`-cpt -1` (no checkpoints) is an error: GMX_NO_CHECKPOINTS, exit 1', () => {
    const cwd = tempDir();
    const { status, findings } = doctor('gromacs', ['gmx', 'mdrun', '-deffnm', 'md', '-cpt', '-1'], cwd);
    expect(status).toBe(1);
    const finding = findings.find((f) => f.code === 'GMX_NO_CHECKPOINTS');
    expect(finding).toMatchObject({
      app: 'gromacs',
      severity: 'error',
      fix: expect.stringContaining('-cpt'),
    });
    // The text form: a FAIL line with its fix, exit 1.
    const text = runCkpt(
      ['doctor', '--app', 'gromacs', '--', 'gmx', 'mdrun', '-deffnm', 'md', '-cpt', '-1'],
      {
        cwd,
      },
    );
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^FAIL `-cpt -1` disables checkpoints/m);
    expect(text.stdout).toMatch(/^ {5}fix: /m);
  });

  it.skipIf(skipGmx)('`-nsteps` is a warning (resumed runs overshoot), not an error: exit 0', () => {
    const { status, findings } = doctor(
      'gromacs',
      ['gmx', 'mdrun', '-deffnm', 'md', '-nsteps', '5000'],
      tempDir(),
    );
    expect(status).toBe(0);
    expect(findings.find((f) => f.code === 'GMX_NSTEPS')).toMatchObject({ severity: 'warning' });
    expect(codes(findings)).toEqual(['INSTALLED', 'GMX_NSTEPS']);
  });
});

describe('ckpt doctor --app lammps', () => {
  it.skipIf(skipLmp)('the example input (ckpt’s pattern) passes: exit 0, nothing but INSTALLED', () => {
    const { status, findings } = doctor('lammps', ['lmp', '-in', 'in.melt'], withInput(EXAMPLE_INPUT));
    expect(status).toBe(0);
    expect(codes(findings)).toEqual(['INSTALLED']);
    expect(findings[0]!.message).toMatch(/^lammps: /);
  });

  it('an input without the halt fix on the stop file is an error (LAMMPS has no SIGTERM handler)', () => {
    const input = without(/ckpt_halt|ckpt_stopping equal/);
    expect(input).not.toMatch(/^\s*fix\s.*\bhalt\b/m);
    const { status, findings } = doctor('lammps', ['lmp', '-in', 'in.melt'], withInput(input));
    expect(status).toBe(1);
    expect(codes(findings).filter((c) => c !== 'INSTALLED')).toEqual(['LMP_NO_HALT']);
    expect(findings.find((f) => f.code === 'LMP_NO_HALT')!.fix).toContain('is_file(${ckpt_stop})');
  });

  it('an input without the resume branch is an error', () => {
    // The classic input: always creates the atoms, never reads the restart file ckpt hands it.
    const input = without(/^if "\$\{ckpt_resume\}/).replace(
      'units           lj',
      'units           lj\nlattice fcc 0.8442\nregion box block 0 12 0 12 0 12\ncreate_box 1 box',
    );
    const { status, findings } = doctor('lammps', ['lmp', '-in', 'in.melt'], withInput(input));
    expect(status).toBe(1);
    expect(codes(findings).filter((c) => c !== 'INSTALLED')).toEqual(['LMP_NO_RESUME']);
  });

  it('`run N` without `upto`, no periodic restart, and atom sorting are warnings', () => {
    const input = EXAMPLE_INPUT.replace(/^run +\$\{total\} upto$/m, 'run 4000')
      .replace(/^restart +1000 .*$/m, '')
      .replace(/^atom_modify +sort 0 0\.0$/m, '');
    const { findings } = doctor('lammps', ['lmp', '-in', 'in.melt'], withInput(input));
    expect(codes(findings).filter((c) => c !== 'INSTALLED')).toEqual([
      'LMP_NO_RESTART',
      'LMP_NO_UPTO',
      'LMP_SORT',
    ]);
    expect(findings.filter((f) => f.code !== 'INSTALLED').every((f) => f.severity === 'warning')).toBe(true);
    expect(findings.find((f) => f.code === 'LMP_NO_UPTO')!.fix).toBe('Use `run N upto`.');
  });

  it('restart files must be named with `*` (ckpt captures no toggled pair); the interval may be a variable', () => {
    const restartLine = /^restart +1000 .*$/m;
    const toggled = EXAMPLE_INPUT.replace(restartLine, 'restart 1000 ckpt/a.restart ckpt/b.restart');
    const found = doctor('lammps', ['lmp', '-in', 'in.melt'], withInput(toggled)).findings;
    expect(codes(found)).toContain('LMP_NO_RESTART');
    expect(found.find((f) => f.code === 'LMP_NO_RESTART')!.message).toContain('`*`');
    const variable = EXAMPLE_INPUT.replace(
      restartLine,
      'variable every equal 1000\nrestart ${every} ckpt/melt.*.restart',
    );
    expect(codes(doctor('lammps', ['lmp', '-in', 'in.melt'], withInput(variable)).findings)).not.toContain(
      'LMP_NO_RESTART',
    );
  });

  it('a missing input, or none given, is an error', () => {
    const cwd = tempDir();
    expect(codes(doctor('lammps', ['lmp', '-in', 'nope.in'], cwd).findings)).toContain('LMP_NO_INPUT');
    const { status, findings } = doctor('lammps', ['lmp'], cwd);
    expect(status).toBe(1);
    expect(findings.find((f) => f.code === 'LMP_NO_INPUT')!.message).toContain('-in FILE');
  });
});

describe('ckpt doctor: the command line', () => {
  it('--json: { findings: [{ app, severity, code, message, fix? }], errors }', () => {
    const r = runCkpt(['doctor', '--app', 'gromacs', '--json', '--', 'gmx', 'mdrun', '-cpt', '-1'], {
      cwd: tempDir(),
    });
    const parsed = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(['errors', 'findings']);
    expect(typeof parsed.errors).toBe('number');
    for (const f of parsed.findings as Record<string, unknown>[]) {
      expect(['ok', 'warning', 'error']).toContain(f.severity);
      for (const key of ['app', 'code', 'message']) expect(typeof f[key]).toBe('string');
      for (const key of Object.keys(f)) expect(['app', 'severity', 'code', 'message', 'fix']).toContain(key);
    }
  });

  it('a missing app is NOT_INSTALLED with the Debian package to install', () => {
    // An empty PATH directory: no gmx, no lmp (node itself is run by its full path).
    const env = { ...process.env, PATH: tempDir() };
    for (const [app, pkg] of [
      ['gromacs', 'gromacs'],
      ['lammps', 'lammps'],
    ] as const) {
      const r = runCkpt(['doctor', '--app', app, '--json'], { cwd: tempDir(), env });
      expect(r.code).toBe(1);
      const { findings } = JSON.parse(r.stdout) as { findings: Finding[] };
      expect(findings).toEqual([
        expect.objectContaining({ severity: 'error', code: 'NOT_INSTALLED', fix: `apt-get install ${pkg}` }),
      ]);
    }
  });

  it('a command without --app, or an unknown app, is a usage error (exit 2)', () => {
    const cwd = tempDir();
    const noApp = runCkpt(['doctor', '--', 'gmx', 'mdrun'], { cwd });
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain('--app NAME');
    const unknown = runCkpt(['doctor', '--app', 'namd'], { cwd });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Unknown app `namd`');
  });
});
