/** `1.5 GiB`, `12 KiB`, `80 B` */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** `3m 20s`, `1h 02m`, `450ms` */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, '0')}h`;
}

/** Left-aligned text table with a header row. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Age of an ISO time relative to now: `5m 02s ago`. */
export function formatAge(iso: string, now = Date.now()): string {
  const ms = now - Date.parse(iso);
  return Number.isFinite(ms) ? `${formatDuration(Math.max(0, ms))} ago` : iso;
}

/**
 * How a checkpoint's step is shown: a captured checkpoint whose files told ckpt no step carries
 * a capture counter, labelled as such everywhere (`capture 4`), never passed off as the program's.
 */
export function formatStep(step: number, meta: Record<string, unknown> | undefined): string {
  return meta?.stepKind === 'capture-counter' ? `capture ${step}` : String(step);
}

/**
 * A statistic to six significant digits that never reads as more exact than it is: an integer
 * that is exact as a double is shown whole; otherwise six digits, in exponent form when the
 * rounding cuts digits before the point (`4.29497e+9`, never `4294970000`).
 */
export function formatApprox(v: number): string {
  if (Number.isSafeInteger(v)) return String(v);
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e6 ? v.toPrecision(6) : String(Number(v.toPrecision(6)));
}
