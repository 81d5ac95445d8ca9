import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describeExecutorConformance } from '../conformance.js';
import { connectDocker, createDockerExecutor } from './docker-executor.js';
import { dockerSkipReason } from './testdata/engine.js';
import { buildTestImage } from './testdata/test-image.js';

let image: Promise<string> | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'lilypad-docker-conformance-'));
const owner = `lilypad-test-conformance-${process.pid}`;

describeExecutorConformance({
  name: 'docker',
  // The kernel kills at the cgroup's memory; the /outputs poll stops the container; links are refused after the run.
  contains: { memory: 'killed', outputs: 'stopped', symlinks: 'refused-after' },
  skip: dockerSkipReason,
  stopSlackMs: 4_000,
  async setup() {
    const docker = connectDocker();
    image ??= buildTestImage(docker, scratch);
    const id = await image;
    return {
      executor: createDockerExecutor({ docker, owner, stopGraceSeconds: 1 }),
      programs: {
        probe: (args) => ({ engine: 'docker', image: id, entrypoint: ['/bin/probe'], args, env: {} }),
        cowsay: (message) => ({ engine: 'docker', image: id, entrypoint: ['/bin/cowsay'], args: [message], env: {} }),
      },
      async teardown() {
        await docker.getImage(id).remove().catch(() => {});
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  },
});
