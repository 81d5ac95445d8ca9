export { connectDocker, createDockerExecutor, parseImageReference, JOB_LABEL, OWNER_LABEL } from './docker-executor.js';
export type { DockerExecutorOptions } from './docker-executor.js';
export { dockerEngineConfigured, dockerExecutorIfAvailable, dockerExecutorOnDemand } from './available.js';
