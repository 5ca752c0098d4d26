/**
 * The NWChem adapter's reading and rewriting of inputs (no nwchem needed): the prefix and
 * permanent_dir as NWChem reads them, the restart copy of the input (`restart`, no geometry
 * block, the tasks kept), the capture plan, and the doctor's findings for inputs whose restart
 * cannot hold.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appSpec, createApp, readNwchemInput, restartInput } from '../../src/apps/index.js';

const INPUT = `# a comment: start nothing
start h2o2   # the prefix
permanent_dir ./perm
scratch_dir /tmp
geometry units angstrom noautoz
  O 0 0.73 0
  O 0 -0.73 0
  zmatrix
    O1
  end
  H 0.84 0.88 0.42
end
basis
  * library 6-31G*
end
task dft optimize
task dft freq
`;

describe('NWChem inputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-nwchem-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'h2o2.nw'), INPUT);

  it('reads the prefix and permanent_dir; the input is the argument naming a file, also under mpirun', () => {
    for (const command of [
      ['nwchem', 'h2o2.nw'],
      ['mpirun', '-np', '2', 'nwchem', 'h2o2.nw'],
    ]) {
      expect(readNwchemInput(command, dir)).toMatchObject({
        path: 'h2o2.nw',
        prefix: 'h2o2',
        startDirective: true,
        permanentDir: 'perm',
      });
    }
    writeFileSync(join(dir, 'plain.nw'), 'geometry\n H 0 0 0\nend\ntask scf\n');
    expect(readNwchemInput(['nwchem', 'plain.nw'], dir)).toMatchObject({
      prefix: 'plain',
      startDirective: false,
      permanentDir: '',
    });
  });

  it('finds the input as nwchem does: NAME for NAME.nw, and nwchem.nw when none is named', () => {
    const sub = mkdtempSync(join(dir, 'names-'));
    writeFileSync(join(sub, 'quick.nw'), 'start quick\ntask scf\n');
    expect(readNwchemInput(['nwchem', 'quick'], sub)).toMatchObject({ path: 'quick.nw', prefix: 'quick' });
    expect(readNwchemInput(['mpirun', '-np', '2', 'nwchem', 'quick'], sub)).toMatchObject({
      path: 'quick.nw',
    });
    expect(() => readNwchemInput(['nwchem'], sub)).toThrow(
      /the command names none, and there is no `nwchem.nw`/,
    );
    expect(() => readNwchemInput(['nwchem', 'nope'], sub)).toThrow(
      /The NWChem input `nope` is not a file .* \(nor is `nope.nw`\)/,
    );
    writeFileSync(join(sub, 'nwchem.nw'), 'start dflt\ntask scf\n');
    expect(readNwchemInput(['/usr/bin/nwchem'], sub)).toMatchObject({ path: 'nwchem.nw', prefix: 'dflt' });
  });

  it('resumes `nwchem NAME` and `nwchem` alone from a restart copy of the input they read', async () => {
    const sub = mkdtempSync(join(dir, 'resume-'));
    writeFileSync(join(sub, 'quick.nw'), 'start quick\ntask scf\n');
    writeFileSync(join(sub, 'nwchem.nw'), 'start dflt\ntask scf\n');
    const resumeFrom = { seq: 1 } as never;
    for (const [command, expected] of [
      [
        ['nwchem', 'quick'],
        ['nwchem', '.ckpt-nwchem/quick.nw'],
      ],
      [['nwchem'], ['nwchem', '.ckpt-nwchem/nwchem.nw']],
    ] as const) {
      const app = createApp('nwchem', { command, cwd: sub, everyMs: undefined }, dir)!;
      expect(await app.command!(command, { resumeFrom, cwd: sub })).toEqual(expected);
    }
  });

  it('refuses a command without an input file, and a permanent_dir outside the working directory', () => {
    expect(() => readNwchemInput(['nwchem', 'nothing-here.nw'], dir)).toThrow(/is not a file in/);
    writeFileSync(join(dir, 'outside.nw'), 'start x\npermanent_dir /scratch/me\ntask scf\n');
    expect(() => readNwchemInput(['nwchem', 'outside.nw'], dir)).toThrow(
      /permanent_dir `\/scratch\/me` is outside the working directory/,
    );
  });

  it('writes a restart copy: `restart PREFIX`, no geometry block (nested blocks too), every task kept', () => {
    const copy = restartInput(readNwchemInput(['nwchem', 'h2o2.nw'], dir));
    expect(copy).toMatch(/^restart h2o2 {3}# the prefix$/m);
    expect(copy).not.toMatch(/^\s*start\b/m);
    expect(copy).not.toMatch(/geometry|zmatrix|O1|0\.84/);
    expect(copy).toContain('basis\n  * library 6-31G*\nend');
    expect(copy).toContain('task dft optimize\ntask dft freq');
    // Without a start directive, NWChem names the database after the input: restart that one.
    expect(restartInput({ text: 'task scf\n', prefix: 'plain', startDirective: false })).toBe(
      'restart plain\ntask scf\n',
    );
  });

  it('captures the permanent files, never scratch, and judges the database (held open) by its settle time', () => {
    const app = createApp('nwchem', { command: ['nwchem', 'h2o2.nw'], cwd: dir, everyMs: undefined }, '.');
    expect(app?.capture?.globs).toEqual([
      'perm/h2o2.db',
      'perm/h2o2.movecs',
      'perm/h2o2.drv.hess',
      'perm/h2o2.hess',
      'perm/h2o2.zmat',
    ]);
    expect(app?.capture?.heldOpen).toEqual(['perm/h2o2.db']);
    expect(app?.capture?.settleMs).toBe(200);
    expect(app?.checkpointSignal).toBe(false);
  });

  it('doctor: names tasks whose restart is broken upstream, and an input that already says restart', async () => {
    writeFileSync(join(dir, 'qmd.nw'), 'restart q\ntask dft qmd\ntask tce energy\n');
    const found: string[] = [];
    await appSpec('nwchem').doctor?.(['nwchem', 'qmd.nw'], dir, (_severity, code, message) => {
      found.push(`${code}: ${message}`);
    });
    expect(found).toEqual([
      expect.stringMatching(/^NWCHEM_BROKEN_RESTART: `task dft qmd`: QMD/),
      expect.stringMatching(/^NWCHEM_BROKEN_RESTART: `task tce energy`: TCE/),
      expect.stringMatching(/^NWCHEM_RESTART_INPUT: /),
    ]);
    const missing: string[] = [];
    await appSpec('nwchem').doctor?.(['nwchem', 'h2o2.nw'], dir, (_s, code, _m, fix) =>
      missing.push(`${code}: ${fix}`),
    );
    expect(missing).toEqual(['NWCHEM_PERMANENT_DIR: mkdir -p perm']);
    writeFileSync(join(dir, 'scr.nw'), 'start s\nscratch_dir ./no-scratch\ntask scf\n');
    const scratch: string[] = [];
    await appSpec('nwchem').doctor?.(['nwchem', 'scr.nw'], dir, (_s, code, _m, fix) =>
      scratch.push(`${code}: ${fix}`),
    );
    expect(scratch).toEqual(['NWCHEM_SCRATCH_DIR: mkdir -p ./no-scratch']);
    mkdirSync(join(dir, 'perm'));
    const clean: string[] = [];
    await appSpec('nwchem').doctor?.(['nwchem', 'h2o2.nw'], dir, (_s, code) => clean.push(code));
    expect(clean).toEqual([]);
  });
});
