import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root, and the built CLI and library that child processes run. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_BIN = fileURLToPath(new URL('../../bin/ckpt', import.meta.url));
export const DIST_STORE_URL = new URL('../../dist/store/index.js', import.meta.url).href;

/** Child-process tests run the compiled code: fail clearly when it is missing. */
export function requireBuild(): void {
  const cliBundle = fileURLToPath(new URL('../../dist/cli-bundle/main.js', import.meta.url));
  if (!existsSync(fileURLToPath(DIST_STORE_URL)) || !existsSync(cliBundle)) {
    throw new Error('dist/ is missing: run `npm run build` before these tests.');
  }
}
