/**
 * The Docker executor: runs a job as a container on a Docker Engine through dockerode.
 *
 * It owns what a container may reach and how it ends: the image is pinned by sha256 (a tag only when the
 * provider allows it), there is no network unless the job asks and the provider allows, CPU, memory and
 * process limits and NVIDIA GPUs (device requests, each run its own cards: gpu-pool.ts) come from the deal, `/inputs` is mounted read-only and `/outputs` is the result folder's
 * `outputs/`. stdout and stderr are read from an attach stream into the result folder up to their caps (the
 * engine keeps no log of them: log driver `none`). Every container carries the executor's owner and its
 * process (owner.ts), so the leftovers of a process that was killed are removed when an executor starts
 * again, and a container is removed when its run ends, whichever way it ends.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

import type Dockerode from 'dockerode';

import { ExecutorError } from '../../lib/errors.js';
import { jobFailureOf, recordFailure } from '../failure.js';
import { resolveLimits } from '../limits.js';
import { validateCommonRequest } from '../validate.js';
import { checkOutputs } from '../outputs.js';
import type { DockerJob, ExecutionRequest, ExecutionResult, Executor } from '../types.js';
import { CappedFile } from './capped-file.js';
import { createGpuPool, type GpuLease } from './gpu-pool.js';
import { engineError, engineMessage, resolveImage } from './image.js';
import { OWNER_LABEL, PROCESS_LABEL, processMarker, removeLeftovers } from './owner.js';

export { parseImageReference } from './image.js';
export { OWNER_LABEL, PROCESS_LABEL } from './owner.js';

export interface DockerExecutorOptions {
  /** A dockerode client; by default one for `DOCKER_HOST`, or the default socket. */
  docker?: Dockerode;
  /** Run images named by a tag (`busybox:1.36`), which can change under the same name. Default false. */
  allowTags?: boolean;
  /** Give a network to jobs that ask for one. Default false: such jobs are refused. */
  allowNetwork?: boolean;
  /** Pull an image named `name@sha256:…` that the engine does not have. Default true. */
  pull?: boolean;
  /**
   * Marks this provider's containers (label `tech.lilypad.owner`). Containers with this owner that are not
   * this executor's own runs are removed by `prepare()`: a restarted provider cleans up after a killed one.
   * Two providers sharing an engine need two owners. Containers of processes on this host that are gone
   * are removed too, whatever their owner.
   */
  owner?: string;
  /** Seconds between SIGTERM and SIGKILL when a job is stopped. Default 2. */
  stopGraceSeconds?: number;
  /** How often `/outputs` is measured while a job runs. Default 250 ms. */
  outputsPollMs?: number;
  /**
   * The GPUs this executor may hand out, by index or UUID (`nvidia-smi -L`). Each run gets its own cards by
   * id and waits while too few are free. Left out, a run asks the engine for a count of GPUs, which gives
   * every container the same first cards: enough for one job at a time.
   */
  gpuDevices?: string[];
}

export const JOB_LABEL = 'tech.lilypad.job';
/** Every job sees the same host name, so that nothing about the run (the container id) reaches its output. */
const JOB_HOSTNAME = 'lilypad-job';


/**
 * dockerode is loaded when a Docker executor is first made, not when this file is: it brings in ssh2, whose
 * optional native addons the CLI bundle cannot hold, and most runs never need it.
 */
function loadDockerode(): typeof Dockerode {
  return createRequire(import.meta.url)('dockerode') as typeof Dockerode;
}

/** A client for the engine that `DOCKER_HOST` names, or the default socket. */
export function connectDocker(): Dockerode {
  const Docker = loadDockerode();
  return new Docker();
}

interface RunningContainer {
  container: Dockerode.Container;
  stop: () => Promise<void>;
}

export function createDockerExecutor(options: DockerExecutorOptions = {}): Executor & { prepare(): Promise<void> } {
  const docker = options.docker ?? connectDocker();
  const owner = options.owner ?? 'lilypad-resource-provider';
  const graceSeconds = options.stopGraceSeconds ?? 2;
  const pollMs = options.outputsPollMs ?? 250;
  const running = new Set<RunningContainer>();
  const gpuPool = options.gpuDevices ? createGpuPool(options.gpuDevices) : undefined;
  const marker = processMarker();
  let prepared: Promise<void> | undefined;
  let closed = false;

  function prepare(): Promise<void> {
    prepared ??= removeLeftovers(docker, owner).catch((error: unknown) => {
      prepared = undefined;
      throw engineError('cannot list containers on the Docker engine', error);
    });
    return prepared;
  }

  async function run(request: ExecutionRequest): Promise<ExecutionResult> {
    if (closed) throw new ExecutorError('the docker executor is closed', { code: 'executor-closed' });
    const { jobId, signal } = request;
    const job = validateRequest(request, options.allowNetwork ?? false);
    const started = performance.now();
    const limits = resolveLimits(request.limits);
    throwIfAborted(jobId, signal);
    await prepare();
    const imageId = await resolveImage(docker, jobId, job, options);
    throwIfAborted(jobId, signal);

    const resultDir = resolve(request.resultDir);
    const outputsDir = join(resultDir, 'outputs');
    await mkdir(outputsDir, { recursive: true });
    if ((await readdir(outputsDir)).length > 0) {
      throw new ExecutorError(`job ${jobId}: ${outputsDir} is not empty; give each run a fresh result directory`, {
        code: 'result-dir-not-empty',
        details: { jobId, outputsDir },
      });
    }

    const gpus = job.resources?.gpus ?? 0;
    const lease = gpus > 0 && gpuPool ? await gpuPool.take(jobId, gpus, signal) : undefined;
    try {
      return await createAndRun(request, job, imageId, limits, resultDir, outputsDir, started, lease);
    } finally {
      lease?.release();
    }
  }

  /** Creates the job's container (with its GPUs: `lease`'s cards, or a count) and runs it. */
  async function createAndRun(
    request: ExecutionRequest,
    job: DockerJob,
    imageId: string,
    limits: ReturnType<typeof resolveLimits>,
    resultDir: string,
    outputsDir: string,
    started: number,
    lease: GpuLease | undefined,
  ): Promise<ExecutionResult> {
    const { jobId, onProgress } = request;
    const memoryBytes = minDefined(limits.memoryBytes, job.resources?.memoryBytes);
    const binds = [`${outputsDir}:/outputs:rw`];
    if (request.inputsDir !== undefined) binds.unshift(`${resolve(request.inputsDir)}:/inputs:ro`);
    const createOptions: Dockerode.ContainerCreateOptions = {
      Image: imageId,
      Entrypoint: job.entrypoint,
      Cmd: job.args,
      Env: Object.entries(job.env)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, value]) => `${name}=${value}`),
      WorkingDir: job.workingDir,
      Labels: { [OWNER_LABEL]: owner, [PROCESS_LABEL]: marker, [JOB_LABEL]: jobId },
      Hostname: JOB_HOSTNAME, // otherwise the container's random id, which the job could print
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      OpenStdin: false,
      NetworkDisabled: !job.network,
      StopTimeout: graceSeconds,
      HostConfig: {
        Binds: binds,
        NetworkMode: job.network ? undefined : 'none',
        Memory: memoryBytes,
        MemorySwap: memoryBytes, // no swap on top
        NanoCpus: job.resources?.cpu ? Math.round(job.resources.cpu * 1_000_000) : undefined,
        PidsLimit: limits.pids,
        DeviceRequests: gpuRequestsOf(job.resources?.gpus ?? 0, lease),
        LogConfig: { Type: 'none', Config: {} },
        SecurityOpt: ['no-new-privileges'],
        CapDrop: ['NET_RAW', 'MKNOD', 'SYS_CHROOT', 'SETFCAP', 'AUDIT_WRITE'],
        AutoRemove: false,
      },
    };

    let container: Dockerode.Container;
    try {
      container = await docker.createContainer(createOptions);
    } catch (error) {
      throw new ExecutorError(`job ${jobId}: the engine would not create the container: ${engineMessage(error)}`, {
        code: 'container-failed',
        details: { jobId },
        cause: error,
      });
    }

    let result: ExecutionResult;
    try {
      result = await execute(container, request, limits, resultDir, outputsDir, memoryBytes);
    } catch (error) {
      // A limit is the job's own doing: its result records it (failure.ts), the same on every run.
      const failure = jobFailureOf(error, jobId);
      if (!failure) throw error;
      result = await recordFailure(resultDir, failure, { stdout: false, stderr: false });
    }
    onProgress?.({ type: 'job:exited', jobId, exitCode: result.exitCode, durationMs: performance.now() - started });
    return result;
  }

  /** Runs the created container to its end and fills the result folder; throws on any limit hit. */
  async function execute(
    container: Dockerode.Container,
    { jobId, signal, onProgress, onOutput }: ExecutionRequest,
    limits: ReturnType<typeof resolveLimits>,
    resultDir: string,
    outputsDir: string,
    memoryBytes: number | undefined,
  ): Promise<ExecutionResult> {
    const stdout = await CappedFile.open(join(resultDir, 'stdout'), limits.stdoutBytes, onOutput);
    const stderr = await CappedFile.open(join(resultDir, 'stderr'), limits.stderrBytes);
    let stopReason: ExecutorError | undefined;
    let stopping: Promise<void> | undefined;
    const stop = (reason: ExecutorError): Promise<void> => {
      stopReason ??= reason;
      // SIGTERM, then SIGKILL after the grace period; a container that ignores SIGTERM ends all the same.
      stopping ??= container.stop({ t: graceSeconds }).then(
        () => undefined,
        () => container.kill().then(() => undefined, () => undefined),
      );
      return stopping;
    };
    const entry: RunningContainer = {
      container,
      stop: () => stop(new ExecutorError(`job ${jobId} was stopped: the executor closed`, { code: 'executor-closed', details: { jobId } })),
    };
    running.add(entry);

    let timer: NodeJS.Timeout | undefined;
    let poller: NodeJS.Timeout | undefined;
    const onAbort = () =>
      void stop(new ExecutorError(`job ${jobId} was aborted`, { code: 'aborted', details: { jobId }, cause: signal?.reason }));
    try {
      const stream = await container.attach({ stream: true, stdout: true, stderr: true, hijack: true });
      const drained = new Promise<void>((done) => {
        stream.on('end', done);
        stream.on('close', done);
        stream.on('error', () => done());
      });
      docker.modem.demuxStream(stream, stdout.writable(), stderr.writable());

      const exited = container.wait({ condition: 'next-exit' }); // asked before start, so no exit is missed
      try {
        await container.start();
      } catch (error) {
        throw new ExecutorError(`job ${jobId}: the container would not start: ${engineMessage(error)}`, {
          code: 'container-failed',
          details: { jobId },
          cause: error,
        });
      }
      onProgress?.({ type: 'job:started', jobId, engine: 'docker' });
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
      if (limits.wallClockMs !== undefined) {
        const wallClockMs = limits.wallClockMs;
        timer = setTimeout(
          () =>
            void stop(
              new ExecutorError(`job ${jobId} ran past its wall-clock limit of ${wallClockMs} ms and was stopped`, {
                code: 'wall-clock-limit',
                details: { jobId, wallClockMs },
              }),
            ),
          wallClockMs,
        );
      }
      let polling = false;
      poller = setInterval(() => {
        if (polling) return;
        polling = true;
        checkOutputs(jobId, outputsDir, limits.outputsBytes)
          .catch((error: unknown) => {
            if (error instanceof ExecutorError && error.code === 'outputs-limit') void stop(error);
          })
          .finally(() => (polling = false));
      }, pollMs);

      const { StatusCode: exitCode } = (await exited) as { StatusCode: number };
      clearTimeout(timer);
      clearInterval(poller);
      // The attach stream ends once the engine has sent everything the container wrote.
      await Promise.race([drained, delay(5_000)]);
      await stdout.close();
      await stderr.close();
      if (stopReason) throw stopReason;
      const state = (await container.inspect()).State;
      if (state.OOMKilled) {
        throw new ExecutorError(`job ${jobId} ran out of memory: it used more than its ${memoryBytes} bytes and was killed`, {
          code: 'memory-limit',
          details: { jobId, limitBytes: memoryBytes },
        });
      }
      const truncated = { stdout: stdout.truncated, stderr: stderr.truncated };
      if (truncated.stdout) onProgress?.({ type: 'job:output-capped', jobId, stream: 'stdout', limitBytes: limits.stdoutBytes });
      if (truncated.stderr) onProgress?.({ type: 'job:output-capped', jobId, stream: 'stderr', limitBytes: limits.stderrBytes });
      await checkOutputs(jobId, outputsDir, limits.outputsBytes);
      await writeFile(join(resultDir, 'exitCode'), String(exitCode));
      return { exitCode, resultDir, truncated };
    } finally {
      clearTimeout(timer);
      clearInterval(poller);
      signal?.removeEventListener('abort', onAbort);
      await stdout.close();
      await stderr.close();
      running.delete(entry);
      await container.remove({ force: true, v: true }).catch(() => {});
    }
  }

  return {
    engine: 'docker',
    async isAvailable() {
      try {
        await withTimeout(docker.ping(), 2_000);
        return true;
      } catch {
        return false;
      }
    },
    prepare,
    run,
    async close() {
      closed = true;
      await Promise.all([...running].map((entry) => entry.stop()));
    },
  };
}

function validateRequest(request: ExecutionRequest, allowNetwork: boolean): DockerJob {
  validateCommonRequest(request, 'docker');
  const { jobId } = request;
  const job = request.job as DockerJob;
  if (job.network && !allowNetwork) {
    throw new ExecutorError(`job ${jobId} asks for a network, and this provider runs jobs without one`, {
      code: 'network-refused',
      details: { jobId },
    });
  }
  return job;
}

/**
 * NVIDIA's device request (what `docker run --gpus` sends): the cards of `lease`, or a count when the
 * executor keeps no pool. None for a job that asks for no GPU. The `nvidia` driver makes a missing
 * nvidia-container-toolkit fail at start with the engine's own message, rather than run the job without GPUs.
 */
export function gpuRequestsOf(gpus: number, lease?: GpuLease): Dockerode.DeviceRequest[] | undefined {
  if (gpus <= 0) return undefined;
  return lease
    ? [{ Driver: 'nvidia', DeviceIDs: lease.deviceIds, Capabilities: [['gpu']] }]
    : [{ Driver: 'nvidia', Count: gpus, Capabilities: [['gpu']] }];
}

function minDefined(...values: Array<number | undefined>): number | undefined {
  const defined = values.filter((value): value is number => value !== undefined && value > 0);
  return defined.length ? Math.min(...defined) : undefined;
}

function throwIfAborted(jobId: string, signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new ExecutorError(`job ${jobId} was aborted`, { code: 'aborted', details: { jobId }, cause: signal.reason });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`no answer in ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
