import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory of ckpt's own package.json, found from this module (bundled or not). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'ckpt'
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('ckpt: cannot find its own package.json');
    dir = parent;
  }
}
