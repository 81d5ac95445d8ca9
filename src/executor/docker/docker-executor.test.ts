import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { executorJobOf } from '../../module/executor-job.js';
import { renderModule } from '../../module/render.js';
import type { ResolvedModule } from '../../module/resolve.js';
import { COWSAY_MOO, expectExecutorError, TEST_SEED } from '../conformance.js';
import type { DockerJob, ExecutionRequest } from '../types.js';
import { connectDocker, createDockerExecutor, OWNER_LABEL, parseImageReference } from './docker-executor.js';
import { dockerSkipReason } from './testdata/engine.js';
import { buildTestImage, IMAGE_PASSWD, writeCowsayModule } from './testdata/test-image.js';

describe('image references', () => {
  test('a digest, with or without a name, is pinned; a tag is not', () => {
    const hex = 'a'.repeat(64);
    expect(parseImageReference(`sha256:${hex}`)).toEqual({ reference: `sha256:${hex}`, name: undefined, digest: `sha256:${hex}` });
    expect(parseImageReference(`ghcr.io/lilypad-tech/cowsay@sha256:${hex}`).digest).toBe(`sha256:${hex}`);
    expect(parseImageReference('busybox:1.36').digest).toBeUndefined();
    expect(parseImageReference(`busybox@sha256:${hex.slice(1)}`).digest).toBeUndefined();
  });
});

const skip = dockerSkipReason();

describe.skipIf(Boolean(skip))(`docker executor${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const owner = `lilypad-test-docker-${process.pid}`;
  const tag = `lilypad-test/probe:${process.pid}`;
  let docker: Dockerode;
  let image: string;
  let scratch: string;
  let executor: ReturnType<typeof createDockerExecutor>;
  let runs = 0;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'lilypad-docker-executor-'));
    docker = connectDocker();
    image = await buildTestImage(docker, scratch, tag);
    executor = createDockerExecutor({ docker, owner, stopGraceSeconds: 1 });
  });
  afterAll(async () => {
    await executor?.close();
    await docker?.getImage(tag).remove().catch(() => {});
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const job = (entrypoint: string[], args: string[], extra: Partial<DockerJob> = {}): DockerJob => ({
    engine: 'docker',
    image,
    entrypoint,
    args,
    env: {},
    ...extra,
  });
  const request = (dockerJob: DockerJob, extra: Partial<ExecutionRequest> = {}): ExecutionRequest => ({
    jobId: `d0c4e7${(++runs).toString(16).padStart(4, '0')}`,
    randomSeed: TEST_SEED,
    job: dockerJob,
    resultDir: join(scratch, `result-${runs}`),
    ...extra,
  });
  const stdoutOf = (dir: string) => readFileSync(join(dir, 'stdout'), 'utf8');
  const ownContainers = () => docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } });

  test('an image named by a bare tag is refused unless the provider allows tags', async () => {
    const error = await expectExecutorError(executor.run(request(job(['/bin/cowsay'], ['moo'], { image: tag }))), 'image-not-pinned');
    expect(error.message).toContain('is not named by digest');
    const lenient = createDockerExecutor({ docker, owner, allowTags: true });
    const result = await lenient.run(request(job(['/bin/cowsay'], ['moo'], { image: tag })));
    expect(stdoutOf(result.resultDir)).toBe(COWSAY_MOO);
    await lenient.close();
  });

  test('an image ID under a name is found by its digest; an unknown digest is named in the error', async () => {
    const named = await executor.run(request(job(['/bin/cowsay'], ['moo'], { image: `lilypad/cowsay@${image}` })));
    expect(stdoutOf(named.resultDir)).toBe(COWSAY_MOO);
    const unknown = `sha256:${'0'.repeat(64)}`;
    const error = await expectExecutorError(executor.run(request(job(['/bin/cowsay'], ['moo'], { image: unknown }))), 'image-missing');
    expect(error.message).toContain(unknown);
  });

  test('no network unless asked and allowed', async () => {
    const none = await executor.run(request(job(['/bin/cat'], ['/proc/net/dev'])));
    const interfaces = stdoutOf(none.resultDir)
      .split('\n')
      .slice(2)
      .filter(Boolean)
      .map((line) => line.trim().split(':')[0]);
    expect(interfaces).toEqual(['lo']);
    const error = await expectExecutorError(executor.run(request(job(['/bin/true'], [], { network: true }))), 'network-refused');
    expect(error.message).toContain('asks for a network');
  });

  test('CPU, memory and pids limits from the deal reach the container', async () => {
    const result = await executor.run(
      request(
        job(['/bin/cat'], ['/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us'], {
          resources: { cpu: 500, memoryBytes: 96 * 1024 * 1024 },
        }),
        { limits: { pids: 48 } },
      ),
    );
    expect(stdoutOf(result.resultDir).split('\n').slice(0, 3)).toEqual(['48', String(96 * 1024 * 1024), '50000']);
  });

  test('the environment is passed sorted, with the working directory and entrypoint', async () => {
    const result = await executor.run(
      request(job(['/bin/sh', '-c'], ['echo "$ZETA $ALPHA $(pwd) $0"', 'arg0'], { env: { ZETA: 'z', ALPHA: 'a' }, workingDir: '/tmp' })),
    );
    expect(stdoutOf(result.resultDir)).toBe('z a /tmp arg0\n');
  });

  test('every byte a job writes reaches the result, also when jobs run at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () => executor.run(request(job(['/bin/probe'], ['flood', '8']), { limits: { stdoutBytes: 64 * 1024 * 1024 } }))),
    );
    for (const result of results) {
      expect(result.truncated).toEqual({ stdout: false, stderr: false });
      expect(readFileSync(join(result.resultDir, 'stdout')).length).toBe(8 * 1024 * 1024);
      expect(readFileSync(join(result.resultDir, 'stderr')).length).toBe(8 * 64 * 1024);
    }
  });

  test("/etc/passwd is the image's, not the host's", async () => {
    const result = await executor.run(request(job(['/bin/cat'], ['/etc/passwd'])));
    expect(stdoutOf(result.resultDir)).toBe(IMAGE_PASSWD);
  });

  test('memory growth past the cap ends in a result naming the limit', async () => {
    const result = await executor.run(request(job(['/bin/probe'], ['grow', '512']), { limits: { memoryBytes: 32 * 1024 * 1024 } }));
    expect(result.failure).toEqual({ code: 'memory-limit', message: 'the job ran out of memory: it used more than its 33554432 bytes and was killed' });
    expect(result.exitCode).toBe(137);
    expect(readFileSync(join(result.resultDir, 'error'), 'utf8')).toBe(`memory-limit: ${result.failure?.message}\n`);
  });

  test('the job sees a fixed host name, not the container id', async () => {
    const result = await executor.run(request(job(['/bin/sh', '-c'], ['hostname'])));
    expect(stdoutOf(result.resultDir)).toBe('lilypad-job\n');
  });

  test('a fork bomb stops at the pids limit and the job still ends', async () => {
    const result = await executor.run(
      // The bomb runs in a subshell and the job waits without forking: a shell whose own fork fails exits, so
      // a main shell that forked after the bomb started lost the race now and then on a loaded machine.
      request(job(['/bin/sh', '-c'], ['(f(){ f|f& }; f); i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo still here']), { limits: { pids: 32, wallClockMs: 30_000 } }),
    );
    expect(stdoutOf(result.resultDir)).toContain('still here');
    expect(readFileSync(join(result.resultDir, 'stderr'), 'utf8')).toContain("can't fork");
    expect(await ownContainers()).toEqual([]);
  });

  test('a container that ignores SIGTERM is killed after the grace period and removed', async () => {
    const started = performance.now();
    const result = await executor.run(request(job(['/bin/sh', '-c'], ['trap "" TERM; while :; do :; done']), { limits: { wallClockMs: 300 } }));
    expect(result.failure?.code).toBe('wall-clock-limit');
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(1_000); // the grace period was given
    expect(elapsed).toBeLessThan(8_000);
    expect(await ownContainers()).toEqual([]);
  });

  test('a container that cannot start is removed, with the engine saying why', async () => {
    const error = await expectExecutorError(executor.run(request(job(['/no/such/program'], []))), 'container-failed');
    expect(error.message).toContain('would not start');
    expect(await ownContainers()).toEqual([]);
  });

  test('GPUs reach the engine as NVIDIA device requests: a count, or the cards of the pool; a job without GPUs gets none', async () => {
    // Each container's HostConfig as the engine stored it, read back between create and start.
    const hostConfigs: Array<Dockerode.ContainerInspectInfo['HostConfig']> = [];
    const recording = Object.create(docker) as Dockerode;
    recording.createContainer = async (options: Dockerode.ContainerCreateOptions) => {
      const container = await docker.createContainer(options);
      hostConfigs.push((await container.inspect()).HostConfig);
      return container;
    };
    // This engine has no NVIDIA runtime: it creates the container with the request and refuses to start it,
    // saying so. On a machine with nvidia-container-toolkit the same request starts (untested here).
    const outcome = (run: Promise<unknown>) => run.then(() => 'ran', (error: Error) => error.message);
    const counted = createDockerExecutor({ docker: recording, owner, stopGraceSeconds: 1 });
    const pooled = createDockerExecutor({ docker: recording, owner, stopGraceSeconds: 1, gpuDevices: ['0', '1', '2'] });
    try {
      const noGpu = await counted.run(request(job(['/bin/true'], [])));
      expect(noGpu.exitCode).toBe(0);
      const started = [
        await outcome(counted.run(request(job(['/bin/true'], [], { resources: { gpus: 2 } })))),
        await outcome(pooled.run(request(job(['/bin/true'], [], { resources: { gpus: 2 } })))),
      ];
      for (const result of started) if (result !== 'ran') expect(result).toMatch(/would not start: .*device driver "nvidia"/);
      expect(hostConfigs.map((config) => config.DeviceRequests ?? null)).toEqual([
        null,
        [expect.objectContaining({ Driver: 'nvidia', Count: 2, Capabilities: [['gpu']] })],
        [expect.objectContaining({ Driver: 'nvidia', DeviceIDs: ['0', '1'], Capabilities: [['gpu']] })],
      ]);
      expect(hostConfigs[2]!.DeviceRequests![0]!.Count ?? 0).toBe(0);
      // More cards than the pool ever has: refused before any container is made.
      await expectExecutorError(pooled.run(request(job(['/bin/true'], [], { resources: { gpus: 4 } }))), 'gpus-unavailable');
      expect(hostConfigs).toHaveLength(3);
    } finally {
      await counted.close();
      await pooled.close();
    }
    expect(await ownContainers()).toEqual([]);
  });

  test('leftovers of a killed provider are removed by label when it starts again', async () => {
    const leftover = await docker.createContainer({ Image: image, Cmd: ['/bin/sleep', '600'], Labels: { [OWNER_LABEL]: owner } });
    await leftover.start();
    const other = await docker.createContainer({ Image: image, Cmd: ['/bin/true'], Labels: { [OWNER_LABEL]: `${owner}-other` } });
    const restarted = createDockerExecutor({ docker, owner });
    await restarted.prepare();
    expect(await ownContainers()).toEqual([]);
    expect((await other.inspect()).Id).toBe(other.id);
    await other.remove({ force: true });
    await restarted.close();
  });

  test("the seed's Docker cowsay module runs: Engine Docker, an entrypoint, an image by digest", async () => {
    const moduleDir = join(scratch, 'cowsay-docker');
    const template = writeCowsayModule(moduleDir, image, ['LANG=C']);
    const module = { name: './cowsay-docker', dir: moduleDir, template } as unknown as ResolvedModule;
    const spec = renderModule(module.name, template, { Message: 'moo' });
    const dockerJob = await executorJobOf(module, spec);
    expect(dockerJob).toMatchObject({
      engine: 'docker',
      entrypoint: ['/bin/cowsay', 'moo'],
      env: { LANG: 'C' },
      network: false,
      resources: { cpu: 1000, memoryBytes: 100 * 1024 * 1024 },
    });
    const result = await executor.run(request(dockerJob as DockerJob, { limits: { wallClockMs: 60_000 } }));
    expect(stdoutOf(result.resultDir)).toBe(COWSAY_MOO);
    expect(readFileSync(join(result.resultDir, 'exitCode'), 'utf8')).toBe('0');
  });
});
