import { describe, expect, it } from 'vitest';
import { DEFAULT_STOP_MEANING, resolveHooks } from '../../src/supervisor/hooks.js';

const stopReason = { kind: 'deadline' as const, detail: 'test' };

describe('resolveHooks', () => {
  it('without hooks, each does nothing or what ckpt does on its own', async () => {
    const hooks = resolveHooks(undefined);
    expect(await hooks.env()).toEqual({});
    expect(hooks.warningSignals).toEqual([]);
    expect(hooks.deliver('SIGUSR2')).toBe(false);
    expect(hooks.graceMs(stopReason, 1234)).toBe(1234);
    expect(await hooks.classifySignal('SIGTERM')).toBe(DEFAULT_STOP_MEANING);
    expect(await hooks.afterStop(stopReason, { code: 0, signal: null })).toBeUndefined();
    expect(await hooks.holderProbe({} as never)).toBeUndefined();
    const unwatch = hooks.watch(() => {
      throw new Error('a no-op watch never stops the program');
    });
    unwatch();
  });

  it('keeps the hooks given and completes only the missing ones', () => {
    const hooks = resolveHooks({ graceMs: () => 5, warningSignals: ['SIGUSR1'] });
    expect(hooks.graceMs(stopReason, 1234)).toBe(5);
    expect(hooks.warningSignals).toEqual(['SIGUSR1']);
    expect(hooks.deliver('SIGUSR2')).toBe(false);
  });
});
