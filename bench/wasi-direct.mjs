// The baseline: a .wasm run directly with node:wasi, in a fresh process, as a user would without lilypad.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

process.removeAllListeners('warning'); // node:wasi is experimental and says so
const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['cowsay', ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
