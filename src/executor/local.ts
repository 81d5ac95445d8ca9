/**
 * The executors of this machine, one answer for every role that runs jobs (provider, mediator, a job
 * creator's re-runs): WebAssembly always, Docker where an engine answers. A role wired with fewer engines
 * than another would judge the same job differently.
 */
import { dockerExecutorIfAvailable, dockerExecutorOnDemand } from './docker/index.js';
import type { Executor } from './types.js';
import { createWasmExecutor } from './wasm/index.js';

export interface LocalExecutorsOptions {
  /** Owner label of the Docker containers (see DockerExecutorOptions.owner). */
  owner: string;
  /** Keep a WebAssembly worker booted for the next job; default true. A one-off re-run does not need one. */
  spareWorker?: boolean;
  /** The GPUs Docker jobs may be given, each to one job at a time (DockerExecutorOptions.gpuDevices). */
  gpuDevices?: string[];
}

/** The first `milliGpu / 1000` cards by index: the GPUs a provider that offers `milliGpu` hands out. */
export function gpuDevicesOf(milliGpu: number): string[] | undefined {
  const cards = Math.floor(milliGpu / 1000);
  return cards > 0 ? Array.from({ length: cards }, (_, index) => String(index)) : undefined;
}

/**
 * Asks the engine now: a provider offers the engines it has when it starts. An engine that does not answer
 * leaves WebAssembly alone.
 */
export async function localExecutors(options: LocalExecutorsOptions): Promise<Executor[]> {
  const docker = await dockerExecutorIfAvailable({ owner: options.owner, gpuDevices: options.gpuDevices }).catch(() => undefined);
  const wasm = createWasmExecutor({ spareWorker: options.spareWorker });
  return docker ? [wasm, docker] : [wasm];
}

/** The same engines, Docker asked only when a Docker job comes: most re-runs are WebAssembly. */
export function localExecutorsOnDemand(options: LocalExecutorsOptions): Executor[] {
  return [createWasmExecutor({ spareWorker: options.spareWorker }), dockerExecutorOnDemand({ owner: options.owner, gpuDevices: options.gpuDevices })];
}

export async function closeExecutors(executors: Executor[]): Promise<void> {
  await Promise.all(executors.map((executor) => executor.close()));
}
