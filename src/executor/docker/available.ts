/**
 * Whether this machine has a Docker engine to offer, checked cheaply: without `DOCKER_HOST` or the default
 * socket nothing is loaded or dialled, so a machine without Docker pays nothing for it.
 */
import { existsSync } from 'node:fs';

import { ExecutorError } from '../../lib/errors.js';
import type { Executor } from '../types.js';
import { createDockerExecutor, type DockerExecutorOptions } from './docker-executor.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';

// DOCKER_HOST is the Docker client's own setting (dockerode reads it too when it connects), not one of ours.
export function dockerEngineConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.DOCKER_HOST) || existsSync(DEFAULT_SOCKET);
}

/** A Docker executor when an engine answers, its leftovers removed; otherwise undefined. */
export async function dockerExecutorIfAvailable(options: DockerExecutorOptions = {}): Promise<Executor | undefined> {
  if (!options.docker && !dockerEngineConfigured()) return undefined;
  const executor = createDockerExecutor(options);
  if (!(await executor.isAvailable())) return undefined;
  await executor.prepare();
  return executor;
}

/**
 * A Docker executor made when first asked for (a Docker job comes), for a process that runs Docker jobs only
 * now and then: the others never load dockerode or dial the engine.
 */
export function dockerExecutorOnDemand(options: DockerExecutorOptions = {}): Executor {
  let made: Promise<Executor | undefined> | undefined;
  const executor = () => (made ??= dockerExecutorIfAvailable(options).catch(() => undefined));
  return {
    engine: 'docker',
    isAvailable: async () => (await executor()) !== undefined,
    prepare: async () => await (await executor())?.prepare(),
    async run(request) {
      const docker = await executor();
      if (!docker) throw new ExecutorError(`job ${request.jobId}: no Docker engine answers here`, { code: 'engine-unavailable', details: { jobId: request.jobId } });
      return await docker.run(request);
    },
    close: async () => await (await made)?.close(),
  };
}
