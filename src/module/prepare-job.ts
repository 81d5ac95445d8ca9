/**
 * The one way a deal's job is made ready and run, for everyone who runs it: the resource provider, the job
 * creator's re-run (`--verify`, audits) and the mediator. Each resolves the module from the job offer itself,
 * renders it with the offer's inputs, picks the executor and runs it with the same limits and random seed,
 * so that the same job gives the same result folder wherever it runs, a failure included.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionLimits, ExecutionResult, Executor, ExecutorJob } from '../executor/types.js';
import { ModuleError } from '../lib/errors.js';
import type { JobOffer } from '../protocol/offers.js';
import { executionLimitsOf, executorJobOf, jobSeedOf } from './executor-job.js';
import { renderModule } from './render.js';
import type { ModuleResolver, ResolvedModule } from './resolve.js';
import { engineOf, type ModuleSpec } from './spec.js';

export interface PreparedJob {
  module: ResolvedModule;
  spec: ModuleSpec;
  executor: Executor;
  executorJob: ExecutorJob;
  limits: ExecutionLimits;
  /** Derived from the module's id and the inputs, never from the deal. */
  randomSeed: string;
}

/** Resolves, renders and prepares a job offer's job; throws a one-line reason when it cannot run here. */
export async function prepareJob(job: JobOffer, components: { modules: ModuleResolver; executors: Executor[] }): Promise<PreparedJob> {
  const module = await components.modules.resolveRef(job.module, job.moduleName);
  const spec = renderModule(job.moduleName, module.template, job.inputs);
  const engine = engineOf(spec);
  const executor = components.executors.find((e) => e.engine === engine);
  if (!executor || !(await executor.isAvailable())) throw new ModuleError(`no ${engine} executor here`, { code: 'engine-unavailable' });
  return { module, spec, executor, executorJob: await executorJobOf(module, spec), limits: executionLimitsOf(spec), randomSeed: jobSeedOf(job.terms) };
}

/**
 * Runs a prepared job into `resultDir` (emptied first). A job the executor gives up on (a module that does
 * not instantiate, an engine error) still gets a result folder that says why: `exitCode` 1 and `error`, with
 * nothing that differs between deals or machines, so a re-run elsewhere writes the same folder. Only an
 * abort (`signal`) throws.
 */
export async function runPreparedJob(
  prepared: PreparedJob,
  run: { jobId: string; resultDir: string; signal?: AbortSignal; wallClockMs?: number },
): Promise<ExecutionResult | { exitCode: 1; failure: { message: string } }> {
  await rm(run.resultDir, { recursive: true, force: true });
  await mkdir(run.resultDir, { recursive: true });
  try {
    return await prepared.executor.run({
      jobId: run.jobId,
      randomSeed: prepared.randomSeed,
      job: prepared.executorJob,
      resultDir: run.resultDir,
      limits: run.wallClockMs === undefined ? prepared.limits : { ...prepared.limits, wallClockMs: run.wallClockMs },
      signal: run.signal,
    });
  } catch (error) {
    if (run.signal?.aborted) throw error;
    const message = failureReason(error as Error, run.jobId);
    await writeFailureResult(run.resultDir, message);
    return { exitCode: 1, failure: { message } };
  }
}

/** The reason, without what differs from one deal or machine to the next (ids, paths). */
export function failureReason(error: Error, jobId: string): string {
  return error.message
    .split(jobId)
    .join('the job')
    .replace(/\b0x[0-9a-fA-F]{64}\b/g, 'the job')
    .replace(/(^|\s)\/\S+/g, '$1<path>')
    .split('\n')[0]!
    .slice(0, 4096);
}

async function writeFailureResult(resultDir: string, reason: string): Promise<void> {
  await rm(resultDir, { recursive: true, force: true });
  await mkdir(path.join(resultDir, 'outputs'), { recursive: true });
  await writeFile(path.join(resultDir, 'stdout'), '');
  await writeFile(path.join(resultDir, 'stderr'), '');
  await writeFile(path.join(resultDir, 'exitCode'), '1');
  await writeFile(path.join(resultDir, 'error'), `${reason}\n`);
}
