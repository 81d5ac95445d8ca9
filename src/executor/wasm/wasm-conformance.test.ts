import { readFileSync } from 'node:fs';

import { describeExecutorConformance } from '../conformance.js';
import { createWasmExecutor } from './wasm-executor.js';

const cowsay = readFileSync(new URL('../../../modules/cowsay/cowsay.wasm', import.meta.url));
const probe = readFileSync(new URL('./testdata/probe.wasm', import.meta.url));

describeExecutorConformance({
  name: 'wasm',
  // Allocation fails at the linear-memory cap; writes past the /outputs cap fail with ENOSPC; WASI cannot make links.
  contains: { memory: 'allocation-fails', outputs: 'enospc', symlinks: 'cannot-make' },
  async setup() {
    return {
      executor: createWasmExecutor(),
      programs: {
        probe: (args) => ({ engine: 'wasm', module: probe, args, env: {} }),
        cowsay: (message) => ({ engine: 'wasm', module: cowsay, args: [message], env: {} }),
      },
    };
  },
});
