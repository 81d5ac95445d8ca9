/**
 * A process killed with SIGKILL mid-job removes nothing on its way out: its container stays on the engine
 * until the next Docker executor on this machine starts and sees that the process it belongs to is gone.
 * The killed process runs the built executor (dist/), as a provider would.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { packageRoot } from '../../lib/package-root.js';
import { TEST_SEED } from '../conformance.js';
import { connectDocker, createDockerExecutor, OWNER_LABEL, PROCESS_LABEL } from './docker-executor.js';
import { processMarker } from './owner.js';
import { dockerSkipReason } from './testdata/engine.js';
import { buildTestImage } from './testdata/test-image.js';

const RUN_UNTIL_KILLED = `
const { createDockerExecutor } = await import(process.env.EXECUTOR);
await createDockerExecutor({ owner: process.env.OWNER }).run({
  jobId: 'deadbeef',
  randomSeed: process.env.SEED,
  job: { engine: 'docker', image: process.env.IMAGE, entrypoint: ['/bin/sleep'], args: ['600'], env: {} },
  resultDir: process.env.RESULT_DIR,
  onProgress: (event) => { if (event.type === 'job:started') process.stdout.write('started\\n'); },
});
`;

const skip = dockerSkipReason();

describe.skipIf(Boolean(skip))(`containers of a killed process${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const owner = `lilypad-test-killed-${process.pid}`;
  let docker: Dockerode;
  let image: string;
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'lilypad-docker-leftovers-'));
    docker = connectDocker();
    image = await buildTestImage(docker, scratch);
  });
  afterAll(async () => {
    await docker?.getImage(image).remove({ force: true }).catch(() => {});
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const containersOf = async (ownerName: string) =>
    docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${ownerName}`] } });

  test('are removed when another executor starts, and a live process keeps its own', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', RUN_UNTIL_KILLED], {
      env: {
        ...process.env,
        EXECUTOR: join(packageRoot(), 'dist', 'executor', 'docker', 'index.js'),
        OWNER: owner,
        SEED: TEST_SEED,
        IMAGE: image,
        RESULT_DIR: join(scratch, 'result'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('started') && resolve());
      void exited.then(() => reject(new Error('the job process ended before its job started')));
    });
    const [running] = await containersOf(owner);
    expect(running?.Labels[PROCESS_LABEL]).toMatch(new RegExp(`/${child.pid}/`));
    child.kill('SIGKILL');
    await exited;
    expect(await containersOf(owner)).toHaveLength(1);

    // A container of a process that still runs (this one) is not a leftover, whoever owns it.
    const live = await docker.createContainer({
      Image: image,
      Cmd: ['/bin/true'],
      Labels: { [OWNER_LABEL]: `${owner}-live`, [PROCESS_LABEL]: processMarker() },
    });
    const next = createDockerExecutor({ docker, owner: `${owner}-next` });
    await next.prepare();
    expect(await containersOf(owner)).toEqual([]);
    expect(await containersOf(`${owner}-live`)).toHaveLength(1);
    await live.remove({ force: true });
    await next.close();
  });
});
