/**
 * The one executor interface. An executor runs one job into a result directory (`stdout`, `stderr`,
 * `exitCode`, `outputs/`), which the resource provider and the mediator then turn into a CID. Implementations
 * sit beside this file: `wasm/` (deterministic by construction), `docker/` later.
 */

export type ExecutorEngine = 'wasm' | 'docker';

/** A WASI preview1 command module. */
export interface WasmJob {
  engine: 'wasm';
  /** The module's bytes (a `.wasm` binary). */
  module: Uint8Array;
  /** The exported function to run; `_start` (a WASI command) when left out. */
  entryPoint?: string;
  /** Arguments after argv[0]; argv[0] is a fixed program name, so it cannot differ between machines. */
  args: string[];
  /** Environment variables; the program sees them sorted by name. */
  env: Record<string, string>;
}

export type ExecutorJob = WasmJob; // a Docker job joins this union later

export interface ExecutionLimits {
  /** Stop the job after this long (ExecutorError code 'wall-clock-limit'). */
  wallClockMs?: number;
  /** Most linear memory the job may have; beyond it, memory.grow fails (malloc returns NULL). */
  memoryBytes?: number;
}

export interface ExecutionRequest {
  /** The job's id (hex). It seeds the job's random bytes, so one job always sees the same ones. */
  jobId: string;
  job: ExecutorJob;
  /** Shown to the job read-only as `/inputs`. */
  inputsDir?: string;
  /** The executor creates `stdout`, `stderr`, `exitCode` and `outputs/` (the job's `/outputs`) here. */
  resultDir: string;
  limits?: ExecutionLimits;
  signal?: AbortSignal;
  onProgress?: (event: ExecutorProgressEvent) => void;
}

export interface ExecutionResult {
  exitCode: number;
  resultDir: string;
}

export type ExecutorProgressEvent =
  | { type: 'job:started'; jobId: string; engine: ExecutorEngine }
  | { type: 'job:exited'; jobId: string; exitCode: number; durationMs: number };

export interface Executor {
  readonly engine: ExecutorEngine;
  /** Whether this machine can run jobs of this engine (a Docker daemon answers, WASI exists). */
  isAvailable(): Promise<boolean>;
  /**
   * Runs one job to its end. A job that exits (any code) resolves; a job that is stopped (limit, abort) or
   * cannot run (bad module, trap) rejects with an ExecutorError whose code says which.
   */
  run(request: ExecutionRequest): Promise<ExecutionResult>;
  /** Stops spare workers and refuses new runs; runs in progress finish. Calling it twice is harmless. */
  close(): Promise<void>;
}
