import { describe, expect, it } from 'vitest';
import { type AppBehavior, resolveApp } from '../../src/supervisor/app-behavior.js';

const options = { capture: ['out/*.chk'], signal: 'SIGUSR2' as const };

describe('resolveApp', () => {
  it('without an app, gives the generic protocol: the command as given, --capture, --signal, exit 0 finished', async () => {
    const app = resolveApp(undefined, options);
    expect(app.kind).toBe('generic');
    const base = ['prog', '-x'];
    const command = await app.command(base, { resumeFrom: undefined, cwd: '/' });
    expect(command).toEqual(base);
    expect(command).not.toBe(base);
    expect(app.env()).toEqual({});
    expect(app.capture).toEqual({ globs: ['out/*.chk'] });
    expect(app.checkpointSignal).toBe('SIGUSR2');
    expect(app.stop).toEqual({ kind: 'checkpoint-signal' });
    expect(await app.classifyExit({ code: 0, signal: null }, '/')).toBe('finished');
    expect(await app.classifyExit({ code: 1, signal: null }, '/')).toBe('failed');
    expect(await app.classifyExit({ code: null, signal: 'SIGKILL' }, '/')).toBe('failed');
    await expect(app.beforeStart('/')).resolves.toBeUndefined();
  });

  it("takes an app's members and completes the rest from the generic protocol", async () => {
    const requestStop = async (): Promise<void> => {};
    const given: AppBehavior = { name: 'test', checkpointSignal: false, requestStop };
    const app = resolveApp(given, options);
    expect(app.kind).toBe('app');
    expect(app.checkpointSignal).toBe(false);
    expect(app.stop).toEqual({ kind: 'app', request: requestStop });
    expect(app.capture).toEqual({ globs: ['out/*.chk'] });
    expect(await app.classifyExit({ code: 0, signal: null }, '/')).toBe('finished');
  });

  it('an app without a checkpoint signal of its own is asked with --signal, and stopped through it', () => {
    const app = resolveApp({ name: 'test' }, options);
    expect(app.checkpointSignal).toBe('SIGUSR2');
    expect(app.stop).toEqual({ kind: 'checkpoint-signal' });
  });
});
