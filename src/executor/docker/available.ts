/**
 * Whether this machine has a Docker engine to offer, checked cheaply: without `DOCKER_HOST` or the default
 * socket nothing is loaded or dialled, so a machine without Docker pays nothing for it.
 */
import { existsSync } from 'node:fs';

import type { Executor } from '../types.js';
import { createDockerExecutor, type DockerExecutorOptions } from './docker-executor.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';

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
