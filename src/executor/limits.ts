/** The limits a run gets: the request's, with DEFAULT_LIMITS for those it leaves out. */
import { DEFAULT_LIMITS, type ExecutionLimits } from './types.js';

export interface ResolvedLimits extends ExecutionLimits {
  stdoutBytes: number;
  stderrBytes: number;
  outputsBytes: number;
  pids: number;
}

export function resolveLimits(limits: ExecutionLimits | undefined): ResolvedLimits {
  const resolved: ResolvedLimits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(limits ?? {})) {
    if (value !== undefined) (resolved as unknown as Record<string, number>)[name] = value;
  }
  return resolved;
}
