/**
 * One job in one worker thread: posts the job, enforces the wall clock and the abort signal, and says what the
 * worker's reply means for the job's result (an exit, a trap, a memory cap reached).
 */
import type { Worker } from 'node:worker_threads';

import { ExecutorError } from '../../lib/errors.js';
import type { JobFailure } from '../types.js';

/** Stdout posted while the job runs (`liveOutput`); any number of them come before the one reply. */
type WorkerOutput = { type: 'output'; bytes: Uint8Array };

export type WorkerReply =
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

export function runInWorker(
  worker: Worker,
  jobId: string,
  wallClockMs: number | undefined,
  signal: AbortSignal | undefined,
  message: Record<string, unknown>,
  onOutput?: (chunk: Uint8Array) => void,
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
    const onMessage = (reply: WorkerReply | WorkerOutput) => {
      if (reply.type === 'output') {
        try {
          onOutput?.(reply.bytes);
        } catch {
          // a live view's failure is not the job's
        }
        return;
      }
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
export function exitedAtMemoryCap(exitCode: number, memoryBytes: number, memoryLimit: number | undefined): JobFailure | undefined {
  if (exitCode === 0 || memoryLimit === undefined || memoryBytes + NEAR_MEMORY_CAP_BYTES <= memoryLimit) return undefined;
  const mib = Math.floor(memoryLimit / (1024 * 1024));
  return {
    code: 'memory-limit',
    message: `the job exited with code ${exitCode} with its memory at its limit of ${mib} MiB; the module can ask for more with machine.ram`,
  };
}

export function failure(jobId: string, reply: Extract<WorkerReply, { type: 'failed' }>, memoryLimit: number | undefined): ExecutorError {
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
