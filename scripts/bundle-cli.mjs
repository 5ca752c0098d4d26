// Bundles the CLI into dist/cli-bundle/ so `ckpt` starts fast: one file to load instead of
// ~60 modules (the ESM loader costs ~0.5 ms per module; `ckpt run` start-up is a benchmark goal).
// Native bindings stay external; commands and rarely used libraries stay lazy chunks.
// The new bundle replaces the old one by rename, so a ckpt running meanwhile keeps working.
import { renameSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const out = 'dist/cli-bundle';
const fresh = `${out}.new-${process.pid}`;
const old = `${out}.old-${process.pid}`;
await build({
  entryPoints: ['dist/cli/main.js'],
  outdir: fresh,
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['zstd-napi', '@node-rs/xxhash'],
  banner: {
    js: "import { createRequire as __ckptRequire } from 'node:module'; const require = __ckptRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
try {
  renameSync(out, old);
} catch {
  // first build
}
renameSync(fresh, out);
rmSync(old, { recursive: true, force: true });
