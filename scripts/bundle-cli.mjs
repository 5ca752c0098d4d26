// Bundles the CLI into dist/cli-bundle/ so `ckpt` starts fast: one file to load instead of
// ~60 modules (the ESM loader costs ~0.5 ms per module; `ckpt run` start-up is a benchmark goal).
// Native bindings stay external; commands and rarely used libraries stay lazy chunks.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/cli-bundle', { recursive: true, force: true }); // no stale chunks from earlier builds

await build({
  entryPoints: ['dist/cli/main.js'],
  outdir: 'dist/cli-bundle',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['zstd-napi', '@node-rs/xxhash'],
  banner: { js: "import { createRequire as __ckptRequire } from 'node:module'; const require = __ckptRequire(import.meta.url);" },
  logLevel: 'warning',
});
