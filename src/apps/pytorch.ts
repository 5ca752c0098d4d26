import { delimiter, join } from 'node:path';
import type { AppBehavior } from '../supervisor/index.js';
import type { AppContext } from './app-options.js';

/**
 * PyTorch training scripts using `python/ckpt_torch.py` (shipped with ckpt): the helper saves
 * model, optimizer, scheduler, every RNG state and the data position, and commits through
 * `ckpt commit`; it checkpoints early on ckpt's signal (`$CKPT_SIGNAL`: SIGUSR2 unless
 * `--signal`). The adapter puts the helper on PYTHONPATH and tells it where `ckpt` is.
 */
export function pytorchApp(_ctx: AppContext, packageRoot: string): AppBehavior {
  return {
    name: 'pytorch',
    // No checkpointSignal: requests use --signal, the one the helper listens for ($CKPT_SIGNAL).
    env: () => pythonHelperEnv(packageRoot),
  };
}

/** ckpt's Python helpers (`python/`) first on PYTHONPATH, and where the `ckpt` command is. */
export function pythonHelperEnv(packageRoot: string): Record<string, string> {
  const helpers = join(packageRoot, 'python');
  const path = process.env.PYTHONPATH ? `${helpers}${delimiter}${process.env.PYTHONPATH}` : helpers;
  return { PYTHONPATH: path, CKPT_BIN: process.env.CKPT_BIN ?? join(packageRoot, 'bin', 'ckpt') };
}
