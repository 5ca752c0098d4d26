/**
 * The QE adapter's reading and rewriting of pw.x inputs (no pw.x needed): namelist values as
 * Fortran writes them, the restart copy of the input, the capture globs, and the clear errors for
 * inputs ckpt cannot restart.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  appSpec,
  createApp,
  namelistValue,
  qeRestartGlobs,
  readQeInput,
  runDoctorChecks,
  withRestartMode,
} from '../../src/apps/index.js';
import { REPO_ROOT, requireBuild } from '../helpers/repo.js';

const INPUT = `&CONTROL
  calculation = 'relax', prefix="si" ! the prefix
  outdir = './out/' , restart_mode = 'from_scratch'
  title = 'a / b'
/
&SYSTEM
  ibrav = 2, nat = 2
/
ATOMIC_SPECIES
`;

describe('QE inputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-qe-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads namelist values: any case, either quote, commas, comments', () => {
    expect(namelistValue(INPUT, 'control', 'prefix')).toBe('si');
    expect(namelistValue(INPUT, 'control', 'calculation')).toBe('relax');
    expect(namelistValue(INPUT, 'control', 'outdir')).toBe('./out/');
    expect(namelistValue(INPUT, 'control', 'title')).toBe('a / b');
    expect(namelistValue(INPUT, 'system', 'nat')).toBe('2');
    expect(namelistValue(INPUT, 'control', 'nat')).toBeUndefined();
    expect(namelistValue('&control\n ! prefix = "no"\n/\n', 'control', 'prefix')).toBeUndefined();
  });

  it("makes the restart copy say restart_mode = 'restart' exactly once, the rest unchanged", () => {
    const copy = withRestartMode(INPUT);
    expect(namelistValue(copy, 'control', 'restart_mode')).toBe('restart');
    expect(copy.match(/restart_mode/g)).toHaveLength(1);
    expect(namelistValue(copy, 'control', 'outdir')).toBe('./out/');
    expect(copy.slice(copy.indexOf('&SYSTEM'))).toBe(INPUT.slice(INPUT.indexOf('&SYSTEM')));
    const without = withRestartMode("&control\n  prefix = 'x'\n/\n");
    expect(namelistValue(without, 'control', 'restart_mode')).toBe('restart');
    expect(namelistValue(without, 'control', 'prefix')).toBe('x');
  });

  it('captures outdir/prefix restart data, relative to the working directory', () => {
    writeFileSync(join(dir, 'a.in'), INPUT);
    const input = readQeInput(['pw.x', '-in', 'a.in'], dir);
    expect(input).toMatchObject({ prefix: 'si', outdir: 'out' });
    expect(qeRestartGlobs(input)).toEqual([
      'out/si.save/**',
      'out/si.bfgs',
      'out/si.update',
      'out/si.restart_*',
      'out/si.mix*',
      'out/si.wfc*',
    ]);
    writeFileSync(join(dir, 'b.in'), '&control\n/\n');
    expect(qeRestartGlobs(readQeInput(['mpirun', '-np', '2', 'pw.x', '-i', 'b.in'], dir))[0]).toBe(
      'pwscf.save/**',
    );
  });

  it("takes the SCF loop's state only after pw.x has exited, and then only a whole stop's", async () => {
    writeFileSync(join(dir, 'a.in'), INPUT);
    const plan = createApp(
      'qe',
      { command: ['pw.x', '-in', 'a.in'], cwd: dir, everyMs: undefined },
      REPO_ROOT,
    )!.capture!;
    for (const name of ['si.wfc1', 'si.wfc12', 'si.mix1', 'si.restart_scf', 'si.restart_k'])
      expect(plan.onlyAfterExit!(`out/${name}`), name).toBe(true);
    for (const name of ['si.bfgs', 'si.update', 'si.save/data-file-schema.xml', 'other.wfc1'])
      expect(plan.onlyAfterExit!(`out/${name}`), name).toBe(false);
    mkdirSync(join(dir, 'out', 'si.save'), { recursive: true });
    writeFileSync(join(dir, 'out', 'si.save', 'data-file-schema.xml'), '<qes:espresso>\n</qes:espresso>\n');
    const whole = async (extra: string[]) =>
      plan.isComplete!(['out/si.save/data-file-schema.xml', ...extra.map((n) => `out/si.${n}`)], dir);
    expect(await whole([])).toBe(true); // an ionic step
    expect(await whole(['restart_scf', 'wfc1'])).toBe(true); // stopped in the SCF loop
    expect(await whole(['restart_scf', 'restart_k', 'wfc1'])).toBe(true); // in its k-point loop
    expect(await whole(['restart_k', 'wfc1'])).toBe(false); // half a stop
  });

  it('refuses, naming the fix: input on stdin, a missing file, an outdir outside the directory', async () => {
    expect(() => readQeInput(['pw.x'], dir)).toThrow(/needs the input file on the command line/);
    expect(() => readQeInput(['pw.x', '-in', 'nope.in'], dir)).toThrow(/Cannot read the QE input `nope.in`/);
    writeFileSync(join(dir, 'c.in'), "&control\n outdir = '/scratch/me'\n/\n");
    expect(() => readQeInput(['pw.x', '-in', 'c.in'], dir)).toThrow(/outdir `\/scratch\/me` is outside/);
    const findings = await runDoctorChecks(appSpec('qe'), ['pw.x', '-in', 'c.in'], dir);
    expect(findings.find((f) => f.code === 'QE_INPUT')?.fix).toMatch(/outdir = '.\/out'/);
  });

  it('doctor leaves nothing in the directory it runs in (pw.x writes input_tmp.in and CRASH where it runs)', () => {
    requireBuild();
    const empty = mkdtempSync(join(tmpdir(), 'ckpt-qe-doctor-'));
    try {
      spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'ckpt'), 'doctor', '--app', 'qe'], {
        cwd: empty,
        encoding: 'utf8',
      });
      expect(readdirSync(empty)).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('doctor warns of an SCF run (no restart data before it stops) and of restart_mode in the input', async () => {
    writeFileSync(join(dir, 'd.in'), "&control\n restart_mode='restart'\n/\n");
    const codes = (await runDoctorChecks(appSpec('qe'), ['pw.x', '-in', 'd.in'], dir)).map((f) => f.code);
    expect(codes).toContain('QE_NO_PERIODIC');
    expect(codes).toContain('QE_RESTART_MODE');
    const relax = (await runDoctorChecks(appSpec('qe'), ['pw.x', '-in', 'a.in'], dir)).map((f) => f.code);
    expect(relax).not.toContain('QE_NO_PERIODIC');
  });
});
