// Bundles the CLI into one file: Node loads one module far faster than the hundreds that viem and the
// IPFS libraries are made of, and start-up time is most of a local job's wall time.
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

await mkdir('dist', { recursive: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/lilypad.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __lilypadCreateRequire } from 'node:module'; const require = __lilypadCreateRequire(import.meta.url);" },
});
// The WebAssembly worker is loaded by URL relative to the code that starts it.
await copyFile('src/executor/wasm/wasi-worker.js', 'dist/wasi-worker.js');
