/**
 * The one executor interface. An executor runs one job into a result directory (`stdout`, `stderr`,
 * `exitCode`, `outputs/`), which the resource provider and the mediator then turn into a CID. Implementations
 * sit beside this file: `wasm/` (deterministic by construction) and `docker/` (a Docker Engine through dockerode). `conformance.ts`
 * is the suite every implementation passes.
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

/** A container run from an image named by content. */
export interface DockerJob {
  engine: 'docker';
  /**
   * `sha256:<64 hex>` (an image ID, what `docker import`/`docker load` print) or `name@sha256:<64 hex>` (a
   * repository digest, or an image ID under a name). A bare tag (`busybox:1.36`) is refused unless the
   * executor was created with `allowTags`.
   */
  image: string;
  /** Replaces the image's entrypoint when given. */
  entrypoint?: string[];
  /** The command after the entrypoint (Bacalhau's `Parameters`); the image's CMD when left out. */
  args?: string[];
  /** Environment variables, passed to the container sorted by name. */
  env: Record<string, string>;
  workingDir?: string;
  /** Asks for a network; granted only when the executor allows it, otherwise the job is refused. */
  network?: boolean;
  /** What the deal was made for; the container gets no more. */
  resources?: {
    /** milli-CPU */
    cpu?: number;
    memoryBytes?: number;
    /** Whole GPUs, passed as device requests. */
    gpus?: number;
  };
}

export type ExecutorJob = WasmJob | DockerJob;

export interface ExecutionLimits {
  /** Stop the job after this long (ExecutorError code 'wall-clock-limit'). */
  wallClockMs?: number;
  /**
   * Most memory the job may have. WebAssembly: linear memory, beyond which memory.grow fails (malloc returns
   * NULL). Docker: the container's memory cgroup (the kernel kills it, 'memory-limit').
   */
  memoryBytes?: number;
  /** Bytes of stdout kept; the rest is read and dropped, so the job still finishes. */
  stdoutBytes?: number;
  /** Bytes of stderr kept, as for stdout. */
  stderrBytes?: number;
  /** Most bytes `/outputs` may hold; past it writes fail (ENOSPC) or the job is stopped ('outputs-limit'). */
  outputsBytes?: number;
  /** Docker: most processes and threads in the container (a fork bomb stops here). */
  pids?: number;
}

/** What an executor applies when a request leaves a limit out. */
export const DEFAULT_LIMITS = {
  stdoutBytes: 16 * 1024 * 1024,
  stderrBytes: 16 * 1024 * 1024,
  outputsBytes: 1024 * 1024 * 1024,
  pids: 256,
} as const;

export interface ExecutionRequest {
  /** Names the run (hex) in logs, messages and container labels; the job never sees it. */
  jobId: string;
  /**
   * 64 hex digits that seed everything random the job can observe. `jobSeedOf` (module/executor-job.ts)
   * derives it from the module's id and the inputs' hash, so two deals of one job see the same bytes.
   */
  randomSeed: string;
  job: ExecutorJob;
  /** Shown to the job read-only as `/inputs`. */
  inputsDir?: string;
  /** The executor creates `stdout`, `stderr`, `exitCode` and `outputs/` (the job's `/outputs`) here. */
  resultDir: string;
  limits?: ExecutionLimits;
  signal?: AbortSignal;
  onProgress?: (event: ExecutorProgressEvent) => void;
  /**
   * Called with the job's stdout as it is written, for a live view of a running job: only the bytes the result
   * keeps (never past `limits.stdoutBytes`), in order, possibly coalesced into larger chunks. A preview: what
   * counts is the result folder's `stdout`. A callback that throws is ignored.
   */
  onOutput?: (chunk: Uint8Array) => void;
}

/** Ways a job ends that are its own doing, recorded in its result folder instead of thrown. */
export type JobFailureCode = 'wall-clock-limit' | 'memory-limit' | 'outputs-limit' | 'outputs-invalid' | 'wasm-trap';

export interface JobFailure {
  code: JobFailureCode;
  /** One line, the same on every run of the job (no job id, no timing); the result's `error` file. */
  message: string;
}

export interface ExecutionResult {
  /**
   * The job's exit status (0-255, as POSIX reports it); for a failure, the code FAILURE_EXIT_CODES gives, except
   * that a WebAssembly job exiting on its own at its memory cap keeps its own code.
   */
  exitCode: number;
  resultDir: string;
  /** Which streams reached their cap and were cut there (the files hold the first bytes, exactly the cap). */
  truncated: { stdout: boolean; stderr: boolean };
  /** Set when the job trapped or hit a limit; the folder then also holds `error` (see failure.ts). */
  failure?: JobFailure;
}

export type ExecutorProgressEvent =
  | { type: 'job:started'; jobId: string; engine: ExecutorEngine }
  | { type: 'job:output-capped'; jobId: string; stream: 'stdout' | 'stderr'; limitBytes: number }
  | { type: 'job:exited'; jobId: string; exitCode: number; durationMs: number };

export interface Executor {
  readonly engine: ExecutorEngine;
  /** Whether this machine can run jobs of this engine (a Docker daemon answers, WASI exists). */
  isAvailable(): Promise<boolean>;
  /**
   * Gets ready to run jobs; `run` calls it too, so calling it is optional. Docker: removes containers that a
   * killed provider with the same owner, or any process on this host that is gone, left behind.
   * WebAssembly: boots the spare worker.
   */
  prepare(): Promise<void>;
  /**
   * Runs one job to its end. A job that exits (any code), traps or hits a limit resolves with its result
   * folder (`failure` says which limit); a job that is aborted or cannot run (bad module, bad request, the
   * engine failing) rejects with an ExecutorError whose code says which.
   */
  run(request: ExecutionRequest): Promise<ExecutionResult>;
  /**
   * Stops spare workers and refuses new runs; runs in progress finish (Docker: their containers are stopped
   * and removed). Calling it twice is harmless.
   */
  close(): Promise<void>;
}
