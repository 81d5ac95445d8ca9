/** Checks of a WebAssembly request and module before a worker is given the job. */
import { ExecutorError } from '../../lib/errors.js';
import { validateCommonRequest } from '../validate.js';
import type { ExecutionRequest, WasmJob } from '../types.js';

const WASI_MODULE = 'wasi_snapshot_preview1';

export function validateRequest(request: ExecutionRequest): void {
  validateCommonRequest(request, 'wasm');
  const { jobId, job } = request;
  for (const arg of (job as WasmJob).args) {
    if (arg.includes('\0')) {
      throw new ExecutorError(`job ${jobId}: an argument contains a NUL character`, {
        code: 'invalid-request',
        details: { jobId },
      });
    }
  }
}

/** Checks what the worker would otherwise find out later and less clearly. */
export function checkInterface(jobId: string, module: WebAssembly.Module, entryPoint: string): void {
  const exports = WebAssembly.Module.exports(module);
  const functions = exports.filter((entry) => entry.kind === 'function').map((entry) => entry.name);
  if (!functions.includes(entryPoint)) {
    throw new ExecutorError(
      `job ${jobId}: the module exports no function ${JSON.stringify(entryPoint)}; it exports ${
        functions.length ? functions.map((name) => JSON.stringify(name)).join(', ') : 'no functions'
      }`,
      { code: 'entry-point-missing', details: { jobId, entryPoint, exportedFunctions: functions } },
    );
  }
  if (!exports.some((entry) => entry.kind === 'memory' && entry.name === 'memory')) {
    throw new ExecutorError(`job ${jobId}: the module exports no memory named "memory", which WASI needs`, {
      code: 'invalid-module',
      details: { jobId },
    });
  }
  const foreign = WebAssembly.Module.imports(module).filter((entry) => entry.module !== WASI_MODULE);
  if (foreign.length > 0) {
    throw new ExecutorError(
      `job ${jobId}: the module imports ${foreign
        .map((entry) => `${entry.module}.${entry.name}`)
        .join(', ')}; only ${WASI_MODULE} is provided`,
      { code: 'invalid-module', details: { jobId } },
    );
  }
}

export function throwIfAborted(jobId: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new ExecutorError(`job ${jobId} was aborted`, { code: 'aborted', details: { jobId }, cause: signal.reason });
  }
}
