/**
 * The WebAssembly executor: runs WASI preview1 command modules with node:wasi inside a worker thread, and is
 * deterministic by construction (see wasi-worker.js for what the job can and cannot observe).
 *
 * This side owns everything that outlives a job or must survive a killed worker: compiled modules (cached by
 * the SHA-256 of their bytes; a compiled Module can be posted to a worker), the result directory and its
 * file descriptors, the wall-clock limit and abort. A worker runs one job at a time; one whose job exited
 * cleanly with a small memory goes back to the idle workers for the next job (a job's state lives in its
 * WASI instance, which the next job does not see), and any other is terminated. A spare is kept booted so
 * that a run does not wait for a worker to start.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { devNull } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

import { ExecutorError } from '../../lib/errors.js';
import { jobFailureOf, recordFailure } from '../failure.js';
import { checkOutputs } from '../outputs.js';
import { resolveLimits } from '../limits.js';
import { validateCommonRequest } from '../validate.js';
import type { ExecutionRequest, ExecutionResult, Executor, JobFailure, WasmJob } from '../types.js';
import { closeDescriptorsUnder } from './descriptors.js';
import { capModuleMemory } from './memory-limit.js';

export interface WasmExecutorOptions {
  /** How many compiled modules to keep (least recently used go first). Default 16. */
  moduleCacheSize?: number;
  /** Keep a booted worker ready so that a run need not wait for one. Default true. */
  spareWorker?: boolean;
}

/** Idle workers kept for the next jobs. */
const MAX_IDLE_WORKERS = 2;
/** A worker whose job ended with more linear memory than this is not reused, so that its memory is freed. */
const REUSE_MEMORY_BYTES = 64 * 1024 * 1024;

const WORKER_URL = new URL('./wasi-worker.js', import.meta.url);
const WASI_MODULE = 'wasi_snapshot_preview1';
const RANDOM_DOMAIN = 'lilypad/executor/wasm/random/v1\0';

type WorkerReply =
  | { type: 'exited'; exitCode: number; memoryBytes: number; report: { stdout: boolean; stderr: boolean; outputsFull: boolean } }
  | {
      type: 'failed';
      reason: 'trap' | 'link' | 'internal';
      message: string;
      stack?: string;
      /** For a trap: the memory the job had and what it had written when it trapped. */
      memoryBytes?: number;
      report?: { stdout: boolean; stderr: boolean };
    };

export function createWasmExecutor(options: WasmExecutorOptions = {}): Executor {
  const cacheSize = options.moduleCacheSize ?? 16;
  const useSpare = options.spareWorker ?? true;
  const compiled = new Map<string, Promise<WebAssembly.Module>>();
  const running = new Set<Worker>();
  const idle: Worker[] = [];
  /** The inputs folder of each running job, so that one job's clean-up leaves another's descriptors alone. */
  const runningInputs = new Map<Worker, string>();
  let closed = false;

  function startIdleWorker(): void {
    const worker = new Worker(WORKER_URL);
    worker.on('error', () => {}); // reported through the run that owns the worker, or irrelevant when idle
    worker.once('exit', () => {
      const at = idle.indexOf(worker);
      if (at >= 0) idle.splice(at, 1);
    });
    worker.unref(); // an idle worker must not keep the process alive
    idle.push(worker);
  }

  function takeWorker(): Worker {
    if (idle.length === 0) startIdleWorker();
    const worker = idle.pop() as Worker;
    worker.ref();
    // Boot the next spare once this job has begun, not before, so that it does not hold up this one.
    if (useSpare) setImmediate(() => !closed && idle.length === 0 && startIdleWorker());
    return worker;
  }

  function giveBack(worker: Worker, reusable: boolean): void {
    if (reusable && !closed && idle.length < MAX_IDLE_WORKERS) {
      worker.unref();
      idle.push(worker);
    } else {
      void worker.terminate();
    }
  }

  async function compile(jobId: string, job: WasmJob, memoryBytes: number | undefined): Promise<WebAssembly.Module> {
    const bytes = job.module;
    if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
      throw new ExecutorError(`job ${jobId}: the module is not a WebAssembly binary (no \\0asm header)`, {
        code: 'invalid-module',
        details: { jobId },
      });
    }
    const key = `${createHash('sha256').update(bytes).digest('hex')}/${memoryBytes ?? 'unlimited'}`;
    let module = compiled.get(key);
    if (module) {
      compiled.delete(key); // re-insert: most recently used last
    } else {
      const source = memoryBytes === undefined ? bytes : capModuleMemory(bytes, memoryBytes);
      module = WebAssembly.compile(source as Uint8Array<ArrayBuffer>);
      module.catch(() => compiled.delete(key));
    }
    compiled.set(key, module);
    while (compiled.size > cacheSize) compiled.delete(compiled.keys().next().value as string);
    try {
      return await module;
    } catch (error) {
      throw new ExecutorError(`job ${jobId}: the module is not valid WebAssembly: ${(error as Error).message}`, {
        code: 'invalid-module',
        details: { jobId },
        cause: error,
      });
    }
  }

  async function run(request: ExecutionRequest): Promise<ExecutionResult> {
    if (closed) throw new ExecutorError('the wasm executor is closed', { code: 'executor-closed' });
    const { jobId, signal, onProgress } = request;
    validateRequest(request);
    const job = request.job as WasmJob;
    const limits = resolveLimits(request.limits);
    throwIfAborted(jobId, signal);

    const module = await compile(jobId, job, limits.memoryBytes);
    const entryPoint = job.entryPoint ?? '_start';
    checkInterface(jobId, module, entryPoint);
    throwIfAborted(jobId, signal);

    const resultDir = resolve(request.resultDir);
    const outputsDir = join(resultDir, 'outputs');
    await mkdir(outputsDir, { recursive: true });
    if (readdirSync(outputsDir).length > 0) {
      throw new ExecutorError(`job ${jobId}: ${outputsDir} is not empty; give each run a fresh result directory`, {
        code: 'result-dir-not-empty',
        details: { jobId, outputsDir },
      });
    }

    const preopens: Record<string, string> = {};
    if (request.inputsDir !== undefined) preopens['/inputs'] = resolve(request.inputsDir);
    preopens['/outputs'] = outputsDir; // /inputs first: preopens are numbered from fd 3 in this order

    let truncated = { stdout: false, stderr: false };
    const started = performance.now();
    let result: ExecutionResult;
    try {
      result = await execute();
    } catch (error) {
      // A trap or a limit is the job's own doing: its result records it (failure.ts), the same on every run.
      const failure = jobFailureOf(error, jobId);
      if (!failure) throw error;
      result = await recordFailure(resultDir, failure, truncated);
    }
    onProgress?.({ type: 'job:exited', jobId, exitCode: result.exitCode, durationMs: performance.now() - started });
    return result;

    async function execute(): Promise<ExecutionResult> {
      const fds: number[] = [];
      let worker: Worker | undefined;
      let reusable = false;
      let replied = false;
      try {
        const stdin = openSync(devNull, 'r');
        fds.push(stdin);
        const stdout = openSync(join(resultDir, 'stdout'), 'w');
        fds.push(stdout);
        const stderr = openSync(join(resultDir, 'stderr'), 'w');
        fds.push(stderr);

        worker = takeWorker();
        running.add(worker);
        if (request.inputsDir !== undefined) runningInputs.set(worker, preopens['/inputs']);
        onProgress?.({ type: 'job:started', jobId, engine: 'wasm' });
        const reply = await runInWorker(worker, jobId, limits.wallClockMs, signal, {
          module,
          entryPoint,
          args: job.args,
          env: Object.entries(job.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
          preopens,
          readOnlyFd: request.inputsDir !== undefined ? 3 : undefined,
          randomSeed: randomStreamSeed(request.randomSeed),
          stdin,
          stdout,
          stderr,
          stdoutLimit: limits.stdoutBytes,
          stderrLimit: limits.stderrBytes,
          outputsLimit: limits.outputsBytes,
        });

        replied = true;
        if (reply.type === 'failed') {
          if (reply.report) truncated = { stdout: reply.report.stdout, stderr: reply.report.stderr };
          throw failure(jobId, reply, limits.memoryBytes);
        }
        reusable = reply.memoryBytes <= REUSE_MEMORY_BYTES;
        truncated = { stdout: reply.report.stdout, stderr: reply.report.stderr };
        if (truncated.stdout) onProgress?.({ type: 'job:output-capped', jobId, stream: 'stdout', limitBytes: limits.stdoutBytes });
        if (truncated.stderr) onProgress?.({ type: 'job:output-capped', jobId, stream: 'stderr', limitBytes: limits.stderrBytes });
        // The write budget keeps real bytes under the cap; this also catches a sparse file made by seeking far.
        await checkOutputs(jobId, outputsDir, limits.outputsBytes);
        // POSIX keeps the low 8 bits of an exit status: exit(257) is reported as 1 everywhere else too.
        const exitCode = reply.exitCode & 0xff;
        await writeFile(join(resultDir, 'exitCode'), String(exitCode));
        const memoryFailure = exitedAtMemoryCap(exitCode, reply.memoryBytes, limits.memoryBytes);
        if (memoryFailure) await writeFile(join(resultDir, 'error'), `${memoryFailure.code}: ${memoryFailure.message}\n`);
        return { exitCode, resultDir, truncated, ...(memoryFailure ? { failure: memoryFailure } : {}) };
      } finally {
        for (const fd of fds) closeSync(fd);
        if (worker) {
          running.delete(worker);
          runningInputs.delete(worker);
          giveBack(worker, reusable);
          if (!replied) {
            // A worker stopped mid-job cannot close the directories it opened for the job; close them here.
            await worker.terminate();
            const dirs = [outputsDir];
            if (request.inputsDir !== undefined && ![...runningInputs.values()].includes(preopens['/inputs'])) dirs.push(preopens['/inputs']);
            closeDescriptorsUnder(dirs);
          }
        }
      }
    }
  }

  return {
    engine: 'wasm',
    async isAvailable() {
      return builtinModules.includes('wasi') && typeof WebAssembly === 'object';
    },
    async prepare() {
      if (useSpare && !closed && idle.length === 0) startIdleWorker();
    },
    run,
    async close() {
      closed = true;
      const workers = [...idle, ...running];
      idle.length = 0;
      compiled.clear();
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

function runInWorker(
  worker: Worker,
  jobId: string,
  wallClockMs: number | undefined,
  signal: AbortSignal | undefined,
  message: Record<string, unknown>,
): Promise<WorkerReply> {
  return new Promise<WorkerReply>((resolvePromise, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanUp = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const stop = (error: ExecutorError) => {
      cleanUp();
      void worker.terminate();
      reject(error);
    };
    const onMessage = (reply: WorkerReply) => {
      cleanUp();
      resolvePromise(reply);
    };
    const onError = (error: Error) =>
      stop(
        new ExecutorError(`job ${jobId}: the WebAssembly worker failed: ${error.message}`, {
          code: 'worker-failed',
          details: { jobId },
          cause: error,
        }),
      );
    const onExit = (code: number) =>
      stop(
        new ExecutorError(`job ${jobId}: the WebAssembly worker exited (code ${code}) before the job ended`, {
          code: 'worker-failed',
          details: { jobId, workerExitCode: code },
        }),
      );
    const onAbort = () =>
      stop(
        new ExecutorError(`job ${jobId} was aborted`, {
          code: 'aborted',
          details: { jobId },
          cause: signal?.reason,
        }),
      );

    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (wallClockMs !== undefined) {
      timer = setTimeout(
        () =>
          stop(
            new ExecutorError(`job ${jobId} ran past its wall-clock limit of ${wallClockMs} ms and was stopped`, {
              code: 'wall-clock-limit',
              details: { jobId, wallClockMs },
            }),
          ),
        wallClockMs,
      );
    }
    worker.postMessage(message);
  });
}

/** A trap or a failed exit this close to the memory cap most likely followed a failed allocation. */
const NEAR_MEMORY_CAP_BYTES = 1024 * 1024;

/**
 * A job that exits non-zero with its memory at the cap most likely gave up because an allocation failed: its
 * result names the limit, so that the user reads "memory" and not only an exit code. The job's own exit code,
 * stdout and stderr stay as they are (they are deterministic here: growth fails at the same point on every
 * machine), so the record differs from a killed Docker job's, which cannot keep them.
 */
function exitedAtMemoryCap(exitCode: number, memoryBytes: number, memoryLimit: number | undefined): JobFailure | undefined {
  if (exitCode === 0 || memoryLimit === undefined || memoryBytes + NEAR_MEMORY_CAP_BYTES <= memoryLimit) return undefined;
  const mib = Math.floor(memoryLimit / (1024 * 1024));
  return {
    code: 'memory-limit',
    message: `the job exited with code ${exitCode} with its memory at its limit of ${mib} MiB; the module can ask for more with machine.ram`,
  };
}

function failure(jobId: string, reply: Extract<WorkerReply, { type: 'failed' }>, memoryLimit: number | undefined): ExecutorError {
  const cause = Object.assign(new Error(reply.message), { stack: reply.stack });
  if (reply.reason === 'trap') {
    const atCap = memoryLimit !== undefined && (reply.memoryBytes ?? 0) + NEAR_MEMORY_CAP_BYTES > memoryLimit;
    const hint = atCap ? ` (its memory had reached its limit of ${memoryLimit} bytes, so it most likely ran out; the module can ask for more with machine.ram)` : '';
    return new ExecutorError(`job ${jobId} trapped: ${reply.message}${hint}`, {
      code: 'wasm-trap',
      details: { jobId },
      cause,
    });
  }
  if (reply.reason === 'link') {
    return new ExecutorError(`job ${jobId}: the module cannot be linked: ${reply.message}`, {
      code: 'invalid-module',
      details: { jobId },
      cause,
    });
  }
  return new ExecutorError(`job ${jobId}: the WebAssembly worker failed: ${reply.message}`, {
    code: 'internal',
    details: { jobId },
    cause,
  });
}

/** 32 bytes that seed the job's random stream, from the request's seed (the same job gives the same bytes). */
function randomStreamSeed(seed: string): string {
  return createHash('sha256').update(RANDOM_DOMAIN).update(seed.toLowerCase()).digest('hex');
}

function validateRequest(request: ExecutionRequest): void {
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
function checkInterface(jobId: string, module: WebAssembly.Module, entryPoint: string): void {
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

function throwIfAborted(jobId: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new ExecutorError(`job ${jobId} was aborted`, { code: 'aborted', details: { jobId }, cause: signal.reason });
  }
}
