/**
 * The GROMACS adapter without GROMACS: the command it builds for a fresh start and a resume, and
 * what an mdrun exit means, read from the log this start wrote (not from earlier starts' lines
 * in an appended log). Logs are shaped like GROMACS 2022's (see ../shared/notes/apps.md).
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gromacsApp, gromacsFiles } from '../../src/apps/gromacs.js';
import type { Manifest } from '../../src/store/index.js';
import type { AppBehavior } from '../../src/supervisor/index.js';
import { useTempDirs } from '../helpers/tmp.js';

const tempDir = useTempDirs('ckpt-gromacs-adapter-');
const HEADER = '              :-) GROMACS - gmx mdrun, 2022.5-Debian_2022.5_2 (-:\n';
const STARTED = 'Started mdrun on rank 0 Sat Nov 21 06:27:18 2026\n';
const TERM = 'Received the TERM signal, stopping within 40 steps\n';
const MAXH = 'Step 1080: Run time exceeded 0.001 hours, will terminate the run within 40 steps\n';
const RESTARTING = 'Restarting from checkpoint, appending to previous log file.\n\n';
const FINISHED = 'Finished mdrun on rank 0 Sat Nov 21 06:38:03 2026\n';
const CMD = ['gmx', 'mdrun', '-deffnm', 'md', '-nt', '1'];
const resumeFrom = { seq: 1, step: 1, entries: [] } as unknown as Manifest;

/** The adapter, after `command()` for one start (it notes the log as the start finds it). */
async function started(cwd: string, resume: boolean, command = CMD): Promise<AppBehavior> {
  const app = gromacsApp({ command, cwd, everyMs: 6000 });
  await app.command!(command, { resumeFrom: resume ? resumeFrom : undefined, cwd });
  return app;
}

const exit = (code: number | null, signal: NodeJS.Signals | null = null) => ({ code, signal });

describe('gromacs adapter', () => {
  it('names the files from -deffnm, the individual options, or the GROMACS defaults', () => {
    expect(gromacsFiles(CMD)).toEqual({
      cpt: 'md.cpt',
      log: 'md.log',
      outputs: ['md.log', 'md.edr', 'md.xtc', 'md.trr'],
    });
    expect(gromacsFiles(['gmx', 'mdrun', '-deffnm', 'md', '-cpo', 'x.cpt', '-g', 'run.log']).cpt).toBe(
      'x.cpt',
    );
    expect(gromacsFiles(['gmx', 'mdrun']).cpt).toBe('state.cpt');
  });

  it('adds -cpt from --every, and -cpi (replacing the user’s) on a resume; -noappend only without the log', async () => {
    const cwd = tempDir();
    const app = gromacsApp({ command: CMD, cwd, everyMs: 6000 });
    expect(await app.command!(CMD, { resumeFrom: undefined, cwd })).toEqual([...CMD, '-cpt', '0.1']);
    const withCpi = [...CMD, '-cpi', 'other.cpt'];
    expect(await app.command!(withCpi, { resumeFrom, cwd })).toEqual([
      ...CMD,
      '-cpt',
      '0.1',
      '-cpi',
      'md.cpt',
      '-noappend',
    ]);
    writeFileSync(join(cwd, 'md.log'), HEADER);
    expect(await app.command!(CMD, { resumeFrom, cwd })).toEqual([...CMD, '-cpt', '0.1', '-cpi', 'md.cpt']);
    const own = [...CMD, '-cpt', '15'];
    expect(await app.command!(own, { resumeFrom: undefined, cwd })).toEqual(own);
  });

  it('exit 1 after "Received the TERM signal" in this start is a stop; any other exit 1 a failure', async () => {
    const cwd = tempDir();
    const log = join(cwd, 'md.log');
    let app = await started(cwd, false);
    writeFileSync(log, HEADER + STARTED + TERM);
    expect(await app.classifyExit!(exit(1), cwd)).toBe('stopped');
    expect(await app.classifyExit!(exit(2), cwd)).toBe('failed');
    expect(await app.classifyExit!(exit(null, 'SIGKILL'), cwd)).toBe('failed');

    // The next start appends to the same log, then fails: the earlier TERM line does not count.
    app = await started(cwd, true);
    appendFileSync(log, `${RESTARTING + HEADER + STARTED}Fatal error: something\n`);
    expect(await app.classifyExit!(exit(1), cwd)).toBe('failed');
  });

  it('a start that fails before writing to the log is not taken for the previous start’s stop', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'md.log'), HEADER + STARTED + TERM);
    const app = await started(cwd, true);
    expect(await app.classifyExit!(exit(1), cwd)).toBe('failed');
  });

  it('exit 0 after "Run time exceeded" (-maxh) is a stop with a checkpoint, not the end of the run', async () => {
    const cwd = tempDir();
    const log = join(cwd, 'md.log');
    let app = await started(cwd, false);
    writeFileSync(log, HEADER + STARTED + MAXH + FINISHED);
    expect(await app.classifyExit!(exit(0), cwd)).toBe('stopped');
    app = await started(cwd, true);
    appendFileSync(log, RESTARTING + HEADER + STARTED + FINISHED);
    expect(await app.classifyExit!(exit(0), cwd)).toBe('finished');
  });

  it('with -noappend, reads the newest part log', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'md.log'), HEADER + STARTED + TERM);
    const app = await started(cwd, true, [...CMD, '-noappend']);
    writeFileSync(join(cwd, 'md.part0002.log'), HEADER + STARTED + MAXH + FINISHED);
    expect(await app.classifyExit!(exit(0), cwd)).toBe('stopped');
    writeFileSync(join(cwd, 'md.part0002.log'), HEADER + STARTED + FINISHED);
    expect(await app.classifyExit!(exit(0), cwd)).toBe('finished');
  });
});
