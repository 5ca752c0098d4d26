/**
 * "Did you mean": shared by every layer that reads names a user typed (CLI flags and config keys,
 * workflow file fields).
 */
/** Edit distance (insert, delete, substitute, swap of neighbours), as commander uses for flags. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name closest to `word` (at most 40% of its length different, like commander's
 * "Did you mean" for flags), or undefined when nothing is close.
 */
export function suggestSimilar(word: string, known: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = distance(word.toLowerCase(), name.toLowerCase());
    if (d <= Math.max(1, Math.floor(0.4 * name.length)) && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}
