/**
 * The WebAssembly executor: runs WASI preview1 command modules with node:wasi inside a worker thread, and is
 * deterministic by construction (see wasi-worker.js for what the job can and cannot observe).
 *
 * This side owns everything that outlives a job or must survive a killed worker: compiled modules (cached by
 * the SHA-256 of their bytes; a compiled Module can be posted to a worker), the result directory and its
 * file descriptors, the wall-clock limit and abort. A worker runs one job and is terminated: node:wasi frees
 * a finished job's uvwasi state whenever the garbage collector gets to it, and doing that while the same
 * worker runs the next job can abort the whole process (uv_mutex_destroy in uvwasi_fd_table_free, seen
 * after jobs that read an 8 MB input). A spare is kept booted so that a run does not wait for a worker to
 * start.
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
import type { ExecutionRequest, ExecutionResult, Executor, WasmJob } from '../types.js';
import { checkInterface, throwIfAborted, validateRequest } from './checks.js';
import { closeDescriptorsUnder } from './descriptors.js';
import { capModuleMemory } from './memory-limit.js';
import { exitedAtMemoryCap, failure, runInWorker } from './worker-run.js';

export interface WasmExecutorOptions {
  /** How many compiled modules to keep (least recently used go first). Default 16. */
  moduleCacheSize?: number;
  /** Keep a booted worker ready so that a run need not wait for one. Default true. */
  spareWorker?: boolean;
}

const WORKER_URL = new URL('./wasi-worker.js', import.meta.url);
const RANDOM_DOMAIN = 'lilypad/executor/wasm/random/v1\0';

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
          liveOutput: request.onOutput !== undefined,
        }, request.onOutput);

        replied = true;
        if (reply.type === 'failed') {
          if (reply.report) truncated = { stdout: reply.report.stdout, stderr: reply.report.stderr };
          throw failure(jobId, reply, limits.memoryBytes);
        }
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
          const terminated = worker.terminate();
          if (!replied) {
            // A worker stopped mid-job cannot close the directories it opened for the job; close them here.
            await terminated;
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

/** 32 bytes that seed the job's random stream, from the request's seed (the same job gives the same bytes). */
function randomStreamSeed(seed: string): string {
  return createHash('sha256').update(RANDOM_DOMAIN).update(seed.toLowerCase()).digest('hex');
}
