import { readFileSync } from 'node:fs';

/** The JSON-lines event log a fixture wrote (empty if it does not exist yet). */
export function readEvents<T = { t: number; event: string; [key: string]: unknown }>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}
