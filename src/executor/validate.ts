/** Checks every executor makes of a request before it runs anything. */
import { ExecutorError } from '../lib/errors.js';
import type { ExecutionRequest, ExecutorEngine } from './types.js';

function invalid(jobId: string, message: string): ExecutorError {
  return new ExecutorError(`job ${jobId}: ${message}`, { code: 'invalid-request', details: { jobId } });
}

/** A hex job id, a 32-byte seed, a job of this executor's engine, clean environment variables and sane limits. */
export function validateCommonRequest(request: ExecutionRequest, engine: ExecutorEngine): void {
  const { jobId, job } = request;
  if (!/^(0x)?[0-9a-fA-F]+$/.test(jobId)) {
    throw new ExecutorError(`job id ${JSON.stringify(jobId)} is not hex`, { code: 'invalid-request' });
  }
  if (typeof request.randomSeed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(request.randomSeed)) {
    throw invalid(jobId, 'randomSeed must be 64 hex digits (jobSeedOf in module/executor-job.ts makes one)');
  }
  if (job.engine !== engine) {
    throw new ExecutorError(`job ${jobId} is a ${String(job.engine)} job; this executor runs ${engine} jobs`, {
      code: 'invalid-request',
      details: { jobId },
    });
  }
  for (const [name, value] of Object.entries(job.env)) {
    if (name === '' || name.includes('=') || name.includes('\0') || value.includes('\0')) {
      throw invalid(jobId, `environment variable ${JSON.stringify(name)} is not a valid name=value`);
    }
  }
  for (const [name, value] of Object.entries(request.limits ?? {})) {
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && (name !== 'wallClockMs' || value > 0))) {
      throw invalid(jobId, `limit ${name} must be a ${name === 'wallClockMs' ? 'positive' : 'non-negative'} number`);
    }
  }
}
