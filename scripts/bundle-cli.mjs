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
  // Loaded from node_modules rather than bundled: better-sqlite3 is a native addon whose compiled binding
  // sits beside it there; dockerode reads its .proto files from its own folder at run time, and ssh2 below
  // it has an optional native binding.
  external: ['better-sqlite3', 'dockerode'],
  // Some dependencies are CommonJS and use require() and __filename; give the ESM bundle both.
  banner: {
    js: [
      "import { createRequire as __lilypadCreateRequire } from 'node:module';",
      "import { fileURLToPath as __lilypadFileURLToPath } from 'node:url';",
      'const require = __lilypadCreateRequire(import.meta.url);',
      'const __filename = __lilypadFileURLToPath(import.meta.url);',
      "const __dirname = __lilypadFileURLToPath(new URL('.', import.meta.url));",
    ].join(' '),
  },
});
// The WebAssembly worker is loaded by URL relative to the code that starts it.
await copyFile('src/executor/wasm/wasi-worker.js', 'dist/wasi-worker.js');
