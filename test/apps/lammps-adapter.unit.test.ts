/**
 * The LAMMPS adapter without LAMMPS: the restart-file globs it reads from an input, which file
 * it captures, the variables it passes, the stop file and what an exit means.
 */
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAMMPS_STOP_FILE, lammpsApp, lammpsRestartGlobs, restartStep } from '../../src/apps/lammps.js';
import type { Manifest } from '../../src/store/index.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs('ckpt-lammps-adapter-');
const CMD = ['lmp', '-in', 'in.melt'];

function appIn(input: string): { app: ReturnType<typeof lammpsApp>; cwd: string } {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'in.melt'), input);
  return { app: lammpsApp({ command: CMD, cwd, everyMs: undefined }), cwd };
}

describe('lammps adapter', () => {
  it('takes the restart globs from `restart N FILE*` and `write_restart FILE*`, variables as *', () => {
    const input = [
      'restart 1000 ckpt/melt.*.restart # periodic',
      'restart 0',
      '# restart 10 commented.*.out',
      'restart 500 a.rst b.rst',
      'write_restart ${name}.*.final',
      'write_restart plain.restart',
    ].join('\n');
    expect(lammpsRestartGlobs(input)).toEqual(['ckpt/melt.*.restart', '*.*.final']);
    expect(restartStep('ckpt/melt.4000.restart')).toBe(4000);
  });

  it('captures the restart file written last, even when an earlier run left files with larger steps', () => {
    const { app, cwd } = appIn('restart 1000 ckpt/melt.*.restart\n');
    mkdirSync(join(cwd, 'ckpt'));
    const old = new Date(Date.now() - 3600_000);
    for (const step of [3000, 4000]) {
      writeFileSync(join(cwd, `ckpt/melt.${step}.restart`), 'old run');
      utimesSync(join(cwd, `ckpt/melt.${step}.restart`), old, old);
    }
    writeFileSync(join(cwd, 'ckpt/melt.1000.restart'), 'this run');
    const files = ['ckpt/melt.1000.restart', 'ckpt/melt.3000.restart', 'ckpt/melt.4000.restart'];
    expect(app.capture!.select!(files)).toEqual(['ckpt/melt.1000.restart']);
    expect(app.capture!.stepOf!(['ckpt/melt.1000.restart'])).toBe(1000);
    // Same write time: the larger step.
    for (const step of [3000, 4000]) utimesSync(join(cwd, `ckpt/melt.${step}.restart`), old, old);
    utimesSync(join(cwd, 'ckpt/melt.1000.restart'), old, old);
    expect(app.capture!.select!(files)).toEqual(['ckpt/melt.4000.restart']);
    expect(app.capture!.select!([])).toEqual([]);
  });

  it('passes the stop file, and on a resume the restored restart file by name (never a wildcard)', async () => {
    const { app, cwd } = appIn('restart 1000 ckpt/melt.*.restart\n');
    expect(await app.command!(CMD, { resumeFrom: undefined, cwd })).toEqual([
      ...CMD,
      '-var',
      'ckpt_stop',
      LAMMPS_STOP_FILE,
      '-var',
      'ckpt_resume',
      '0',
      '-var',
      'ckpt_restart',
      'none',
    ]);
    const manifest = {
      seq: 2,
      step: 2000,
      entries: [
        { type: 'dir', path: 'ckpt' },
        { type: 'file', path: 'ckpt/melt.2000.restart' },
      ],
    } as unknown as Manifest;
    const resumed = await app.command!(CMD, { resumeFrom: manifest, cwd });
    expect(resumed.slice(-6)).toEqual([
      '-var',
      'ckpt_resume',
      '1',
      '-var',
      'ckpt_restart',
      'ckpt/melt.2000.restart',
    ]);
  });

  it('a stop creates the stop file; exit 0 with it is "stopped", without it "finished"; the next start removes it', async () => {
    const { app, cwd } = appIn('');
    const exit0 = { code: 0, signal: null };
    expect(await app.classifyExit!(exit0, cwd)).toBe('finished');
    await app.requestStop!({ pgid: 0, cwd });
    expect(existsSync(join(cwd, LAMMPS_STOP_FILE))).toBe(true);
    expect(await app.classifyExit!(exit0, cwd)).toBe('stopped');
    expect(await app.classifyExit!({ code: 1, signal: null }, cwd)).toBe('failed');
    expect(await app.classifyExit!({ code: null, signal: 'SIGKILL' }, cwd)).toBe('failed');
    await app.beforeStart!(cwd);
    expect(existsSync(join(cwd, LAMMPS_STOP_FILE))).toBe(false);
  });
});
