import { UsageError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration: `90s`, `10m`, `1h30m`, `1.5h`, `250ms`, `2d`, `HH:MM:SS` (as SLURM writes
 * it), or a bare number of seconds. Returns milliseconds; throws {@link UsageError} naming `what`.
 */
export function parseDuration(text: string, what: string): number {
  const value = text.trim();
  const clock = /^(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?$/.exec(value);
  if (clock) {
    const [, days, a, b, c] = clock;
    const [h, m, s] = c === undefined ? [0, Number(a), Number(b)] : [Number(a), Number(b), Number(c)];
    return ((Number(days ?? 0) * 24 + h) * 3600 + m * 60 + s) * 1000;
  }
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length > 0 && parts.map((p) => p[0]).join('') === value) {
    return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (UNIT_MS[unit!] ?? 0), 0);
  }
  throw new UsageError(`Expected \`${what}\` to be a duration like 90s, 10m or 1h30m, got \`${text}\`.`);
}

/** `1h30m`, `10m`, `45s`, `250ms`: the shortest exact form. */
export function formatDurationSpec(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  let s = ms / 1000;
  const out: string[] = [];
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size) {
      out.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return out.join('') || '0s';
}
