import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface InProcessResult {
  code: number;
  out: string;
  err: string;
}

/**
 * Runs the CLI in this process (fast enough for a fuzzer's thousand cases) and checks the one
 * rule every hostile input shares: no "internal error", no stack trace.
 */
export async function ckpt(store: string, ...args: string[]): Promise<InProcessResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args, '--store', store], {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
  });
  const result = { code, out: out.join('\n'), err: err.join('\n') };
  expect(result.err, `ckpt ${args.join(' ')}`).not.toMatch(/internal error|please report|\n\s+at /);
  return result;
}

/**
 * A fingerprint of everything under `dir` without following links: each path with its kind,
 * mode and content hash (or link target). Equal fingerprints mean nothing there changed.
 */
export function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (path: string, rel: string): void => {
    const stat = lstatSync(path);
    const mode = (stat.mode & 0o7777).toString(8);
    if (stat.isSymbolicLink()) out[rel] = `link ${readlinkSync(path)}`;
    else if (stat.isDirectory()) {
      out[rel] = `dir ${mode}`;
      for (const name of readdirSync(path).sort()) visit(join(path, name), `${rel}/${name}`);
    } else if (stat.isFile()) {
      out[rel] = `file ${mode} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    } else out[rel] = `other ${mode}`;
  };
  visit(dir, '.');
  return out;
}
