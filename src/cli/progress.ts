import { formatBytes } from './format.js';

/** A byte progress bar on stderr, only when stderr is a terminal (never in logs or pipes). */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** Starts a byte progress bar labelled `label`; a no-op one unless `enabled` (stderr is a TTY). */
export async function startProgress(
  label: string,
  enabled = process.stderr.isTTY === true,
): Promise<Progress> {
  if (!enabled) return { update() {}, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {done}/{all}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0, { done: formatBytes(0), all: formatBytes(total) });
        started = true;
      }
      bar.update(done, { done: formatBytes(done), all: formatBytes(total) });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
