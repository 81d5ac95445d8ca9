/**
 * Determinism by construction: the probe reads both clocks, asks for random bytes, prints its environment
 * and arguments and writes a file with the time in it. Through the executor every run gives the same result
 * CID; the same module under plain node:wasi gives a different one each time.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';

import { cidOfDirectory } from '../../storage/index.js';
import { TEST_SEED } from '../conformance.js';
import { createWasmExecutor } from './wasm-executor.js';

// node:wasi warns that it is experimental when loaded; this file's process is a test worker, so drop it.
process.removeAllListeners('warning');
const { WASI } = await import('node:wasi');

const probe = readFileSync(new URL('./testdata/probe.wasm', import.meta.url));
const args = ['first arg', 'second'];
const env = { ZETA: 'z', ALPHA: 'a', MIDDLE: 'm' };

let scratch: string;
let runs = 0;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'lilypad-determinism-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The same job, with the same result folder layout, under node:wasi as anyone would set it up. */
async function runPlainWasi(): Promise<string> {
  const resultDir = join(scratch, `plain-${++runs}`);
  mkdirSync(join(resultDir, 'outputs'), { recursive: true });
  const stdout = openSync(join(resultDir, 'stdout'), 'w');
  const stderr = openSync(join(resultDir, 'stderr'), 'w');
  try {
    const wasi = new WASI({
      version: 'preview1',
      args: ['main.wasm', ...args],
      env,
      preopens: { '/outputs': join(resultDir, 'outputs') },
      stdout,
      stderr,
      returnOnExit: true,
    });
    const instance = await WebAssembly.instantiate(await WebAssembly.compile(probe), wasi.getImportObject() as WebAssembly.Imports);
    writeFileSync(join(resultDir, 'exitCode'), String(wasi.start(instance)));
  } finally {
    closeSync(stdout);
    closeSync(stderr);
  }
  return resultDir;
}

test('the executor gives the same result CID on every run; plain node:wasi does not', async () => {
  const executor = createWasmExecutor();
  const cids = new Set<string>();
  try {
    for (let run = 0; run < 3; run++) {
      const result = await executor.run({
        jobId: 'ab12',
        randomSeed: TEST_SEED,
        job: { engine: 'wasm', module: probe, args, env },
        resultDir: join(scratch, `executor-${++runs}`),
      });
      expect(result.exitCode).toBe(0);
      cids.add((await cidOfDirectory(result.resultDir)).toString());
    }
  } finally {
    await executor.close();
  }
  expect(cids.size).toBe(1);

  const plain = new Set<string>();
  for (let run = 0; run < 3; run++) plain.add((await cidOfDirectory(await runPlainWasi())).toString());
  expect(plain.size).toBe(3);
  expect(plain.has([...cids][0])).toBe(false);
});
