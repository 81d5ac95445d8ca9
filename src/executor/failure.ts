/**
 * A job that traps or hits a limit still has a result: its folder records what happened, the same way on
 * every run, so that a provider can submit it, the job creator can read why, and a mediator's re-run gives
 * the same CID. What the folder holds:
 *
 * - `exitCode`: FAILURE_EXIT_CODES[code] (the POSIX-style status a shell would report for such an end);
 * - `error`: one line, `<code>: <message>` and a newline, with no job id or timing in it;
 * - after a limit hit (wall clock, memory, outputs): `stdout` and `stderr` empty and `outputs/` empty, since
 *   how far a stopped job got depends on the machine's speed;
 * - after a trap or invalid outputs: `stdout` and `stderr` as the job wrote them (they are deterministic up to
 *   that point), and `outputs/` only for a trap (invalid outputs are removed, nobody may follow them);
 * - a WebAssembly job that exits non-zero with its memory at the cap (its allocation failed, the same way on
 *   every machine) keeps its own exit code and everything it wrote, and `error` names the memory limit.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { ExecutorError } from '../lib/errors.js';
import type { ExecutionResult, JobFailure, JobFailureCode } from './types.js';

export const FAILURE_EXIT_CODES: Record<JobFailureCode, number> = {
  'wall-clock-limit': 124, // what GNU timeout exits with
  'memory-limit': 137, // 128 + SIGKILL, what an OOM kill reports
  'outputs-limit': 153, // 128 + SIGXFSZ, file size limit exceeded
  'outputs-invalid': 1,
  'wasm-trap': 134, // 128 + SIGABRT, as wasmtime reports a trap
};

const KEEPS_OUTPUT: Record<JobFailureCode, { streams: boolean; outputs: boolean }> = {
  'wall-clock-limit': { streams: false, outputs: false },
  'memory-limit': { streams: false, outputs: false },
  'outputs-limit': { streams: false, outputs: false },
  'outputs-invalid': { streams: true, outputs: false },
  'wasm-trap': { streams: true, outputs: true },
};

/** The failure an executor error records, or undefined when the error is not the job's own doing. */
export function jobFailureOf(error: unknown, jobId: string): JobFailure | undefined {
  if (!(error instanceof ExecutorError) || !(error.code in FAILURE_EXIT_CODES)) return undefined;
  // Executor messages start "job <id> ..."; the record must not carry the id, which differs between deals.
  const prefix = `job ${jobId}`;
  const rest = error.message.startsWith(prefix) ? error.message.slice(prefix.length).replace(/^:/, '') : ` ${error.message}`;
  return { code: error.code as JobFailureCode, message: `the job${rest}`.split('\n')[0]! };
}

/** Rewrites `resultDir` (stdout, stderr and outputs/ already there) as the record of `failure`. */
export async function recordFailure(
  resultDir: string,
  failure: JobFailure,
  truncated: ExecutionResult['truncated'],
): Promise<ExecutionResult> {
  const keeps = KEEPS_OUTPUT[failure.code];
  if (!keeps.streams) {
    for (const stream of ['stdout', 'stderr']) await truncate(join(resultDir, stream), 0);
  }
  if (!keeps.outputs) {
    const outputsDir = join(resultDir, 'outputs');
    await removeTree(outputsDir);
    await mkdir(outputsDir);
  }
  const exitCode = FAILURE_EXIT_CODES[failure.code];
  await writeFile(join(resultDir, 'exitCode'), String(exitCode));
  await writeFile(join(resultDir, 'error'), `${failure.code}: ${failure.message}\n`);
  return { exitCode, resultDir, truncated: keeps.streams ? truncated : { stdout: false, stderr: false }, failure };
}

/** Node's rm works by path and fails past PATH_MAX; rm(1) walks by descriptor, so a tree of any depth goes. */
async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch {
    await promisify(execFile)('rm', ['-rf', '--', dir]);
  }
}
