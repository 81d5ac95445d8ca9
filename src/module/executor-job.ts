/**
 * From a rendered module to what an executor runs: the job, its limits and its random seed. The provider,
 * the job creator's verifier and the mediator all take them from here, so that every re-run is the same run.
 */
import { createHash } from 'node:crypto';
import type { DockerJob, ExecutionLimits, ExecutorJob } from '../executor/types.js';
import { ModuleError } from '../lib/errors.js';
import { loadModuleFileByCid, type ResolvedModule } from './resolve.js';
import { gpusOf, type ModuleSpec } from './spec.js';

export async function executorJobOf(module: ResolvedModule, spec: ModuleSpec): Promise<ExecutorJob> {
  if (spec.job.Spec.Engine === 'Docker') return dockerJobOf(module, spec);
  const wasm = spec.job.Spec.Wasm;
  if (spec.job.Spec.Engine !== 'Wasm' || !wasm) {
    throw new ModuleError(`module ${module.name} uses the ${spec.job.Spec.Engine} engine, which this build cannot run yet`, {
      code: 'engine-unsupported',
    });
  }
  return {
    engine: 'wasm',
    module: await loadModuleFileByCid(module, wasm.EntryModule.CID),
    entryPoint: wasm.EntryPoint,
    args: wasm.Parameters,
    env: wasm.EnvironmentVariables,
  };
}

const MB = 1024 * 1024;

const SEED_DOMAIN = 'lilypad/job-seed/v1\0';

/**
 * The seed of everything random a job sees (`ExecutionRequest.randomSeed`): from what the job offer names,
 * the module's id and the inputs' hash (both 0x-prefixed bytes32, `terms.moduleId` / `terms.inputsHash`),
 * never the deal id or a nonce. So two deals of one job give one result CID; other draws need another input.
 */
export function jobSeedOf(job: { moduleId: string; inputsHash: string }): string {
  return createHash('sha256').update(SEED_DOMAIN).update(job.moduleId.toLowerCase()).update(job.inputsHash.toLowerCase()).digest('hex');
}

/** A job that sets no `Timeout` is stopped after this long unless the caller's policy says otherwise. */
export const DEFAULT_JOB_WALL_CLOCK_MS = 10 * 60 * 1000;
/** The memory of a job whose module declares no RAM (`machine.ram` 0): the same for every run of it. */
export const DEFAULT_JOB_MEMORY_BYTES = 512 * MB;

export interface ExecutionPolicy {
  /** Wall clock for a module that sets no `Timeout`. Default DEFAULT_JOB_WALL_CLOCK_MS. */
  defaultWallClockMs?: number;
  /** The most wall clock any module gets, whatever its `Timeout` says. */
  maxWallClockMs?: number;
  /** Memory for a module whose `machine.ram` is 0 (unset); default DEFAULT_JOB_MEMORY_BYTES. */
  defaultMemoryBytes?: number;
}

/**
 * The limits a module's run gets: wall clock from `Spec.Timeout` (seconds), memory from `machine.ram` (MB,
 * counted as MiB: WebAssembly's linear-memory cap, Docker's cgroup). Everyone who runs the job calls this,
 * so the provider's run and a mediator's re-run hit the same limits.
 */
export function executionLimitsOf(spec: ModuleSpec, policy: ExecutionPolicy = {}): ExecutionLimits {
  const timeoutMs = spec.job.Spec.Timeout ? spec.job.Spec.Timeout * 1000 : (policy.defaultWallClockMs ?? DEFAULT_JOB_WALL_CLOCK_MS);
  const wallClockMs = policy.maxWallClockMs !== undefined ? Math.min(timeoutMs, policy.maxWallClockMs) : timeoutMs;
  const memoryBytes = spec.machine.ram > 0 ? Math.round(spec.machine.ram * MB) : (policy.defaultMemoryBytes ?? DEFAULT_JOB_MEMORY_BYTES);
  return { wallClockMs, memoryBytes };
}

/** The image, command and environment from `Spec.Docker`; the network from `Spec.Network`; resources from `machine` (GPUs from gpusOf). */
function dockerJobOf(module: ResolvedModule, spec: ModuleSpec): DockerJob {
  // Spec.Docker was checked, and its environment read, by the one schema in spec.ts when the module rendered.
  const docker = spec.job.Spec.Docker;
  if (!docker) throw new ModuleError(`module ${module.name} uses the Docker engine but has no Docker section`, { code: 'template-invalid-spec' });
  const networkType = spec.job.Spec.Network?.Type;
  return {
    engine: 'docker',
    image: docker.Image,
    entrypoint: docker.Entrypoint,
    args: docker.Parameters,
    env: docker.EnvironmentVariables,
    workingDir: docker.WorkingDirectory || undefined,
    network: networkType !== undefined && networkType.toLowerCase() !== 'none',
    resources: {
      cpu: spec.machine.cpu || undefined,
      memoryBytes: spec.machine.ram ? spec.machine.ram * MB : undefined,
      gpus: gpusOf(spec) || undefined,
    },
  };
}
