/**
 * The one way a deal's job is made ready and run, for everyone who runs it: the resource provider, the job
 * creator's re-run (`--verify`, audits) and the mediator. Each resolves the module from the job offer itself,
 * renders it with the offer's inputs, picks the executor and runs it with the same limits and random seed,
 * so that the same job gives the same result folder wherever it runs, a failure included.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutionLimits, ExecutionRequest, ExecutionResult, Executor, ExecutorJob } from '../executor/types.js';
import { ModuleError } from '../lib/errors.js';
import type { Deal } from '../protocol/deals.js';
import type { JobOffer } from '../protocol/offers.js';
import { executionLimitsOf, executorJobOf, jobSeedOf } from './executor-job.js';
import type { InputStore } from '../storage/block-source.js';
import { jobInputsOf, type JobInput } from './job-inputs.js';
import { renderModule } from './render.js';
import type { ModuleResolver, ResolvedModule } from './resolve.js';
import { engineOf, type ModuleSpec } from './spec.js';
import { stageInputs, type StageInputsOptions } from './stage-inputs.js';

export interface PreparedJob {
  module: ResolvedModule;
  spec: ModuleSpec;
  executor: Executor;
  executorJob: ExecutorJob;
  limits: ExecutionLimits;
  /** Derived from the module's id and the inputs, never from the deal. */
  randomSeed: string;
  /** The spec's `Inputs` by CID, checked; fetched into the job's `/inputs` when it runs. */
  inputs: JobInput[];
  /** Where the inputs' blocks come from; set whenever `inputs` is not empty. */
  inputStore?: InputStore & Pick<StageInputsOptions, 'timeoutMs' | 'maxBytes'>;
  /** IPFS peers that hold the inputs: the job creator's node, as its signed offer names it. */
  inputPeers: string[];
}

export interface PrepareJobComponents {
  modules: ModuleResolver;
  executors: Executor[];
  /** Needed only for jobs with inputs by CID; without it such a job is refused before anything is agreed. */
  inputs?: InputStore & Pick<StageInputsOptions, 'timeoutMs' | 'maxBytes'>;
}

/**
 * Resolves, renders and prepares a job offer's job; throws a one-line reason when it cannot run here. Its
 * inputs are checked (CIDs, paths) but not fetched: the provider calls this before it agrees, within the
 * solver's agreement timeout (30 s by default), too short for a large input, and a provider that refuses
 * tells the job creator nothing, who would wait out the offer. Fetching happens after agreement
 * (`runPreparedJob`), where a CID nobody serves ends the deal at once with a result that says why, and a
 * mediator that cannot fetch it either writes the same result.
 */
export async function prepareJob(job: JobOffer, components: PrepareJobComponents): Promise<PreparedJob> {
  const module = await components.modules.resolveRef(job.module, job.moduleName);
  return prepareModuleJob(
    { module, moduleName: job.moduleName, inputs: job.inputs, randomSeed: jobSeedOf(job.terms), inputPeers: job.ipfsPeers ?? [] },
    components,
  );
}

/** `prepareJob` for a module already resolved: a deal's job, or a module author's `lilypad module test`. */
export async function prepareModuleJob(
  job: { module: ResolvedModule; moduleName: string; inputs: Record<string, string>; randomSeed: string; inputPeers: string[] },
  components: Omit<PrepareJobComponents, 'modules'>,
): Promise<PreparedJob> {
  const { module } = job;
  const spec = renderModule(job.moduleName, module.template, job.inputs);
  const engine = engineOf(spec);
  const executor = components.executors.find((e) => e.engine === engine);
  if (!executor || !(await executor.isAvailable())) throw new ModuleError(`no ${engine} executor here`, { code: 'engine-unavailable' });
  const inputs = jobInputsOf(spec, job.moduleName, job.inputs);
  if (inputs.length > 0 && !components.inputs) {
    throw new ModuleError(`module ${job.moduleName} takes inputs by CID and nothing here can fetch them`, { code: 'inputs-unsupported' });
  }
  return {
    module,
    spec,
    executor,
    executorJob: await executorJobOf(module, spec),
    limits: executionLimitsOf(spec),
    randomSeed: job.randomSeed,
    inputs,
    inputStore: inputs.length > 0 ? components.inputs : undefined,
    inputPeers: job.inputPeers,
  };
}

/**
 * `prepareJob` for a re-run of a deal's job (the mediator's, the job creator's check): the inputs are found at
 * the job creator's node and then at the provider's, which fetched them for its own run.
 */
export async function prepareRerun(deal: Pick<Deal, 'jobOffer' | 'resourceOffer'>, components: PrepareJobComponents): Promise<PreparedJob> {
  const prepared = await prepareJob(deal.jobOffer, components);
  return { ...prepared, inputPeers: [...prepared.inputPeers, ...(deal.resourceOffer.details.ipfsPeers ?? [])] };
}

/**
 * Runs a prepared job into `resultDir` (emptied first), its inputs fetched first into `<resultDir>.inputs`
 * (removed afterwards), which the job sees read-only as `/inputs`. A job the executor gives up on (a module
 * that does not instantiate, an engine error) or whose input cannot be had (`input-unavailable`,
 * `input-too-large`, ...) still gets a result folder that says why: `exitCode` 1 and `error`, with nothing
 * that differs between deals or machines, so a re-run elsewhere writes the same folder. Only an abort
 * (`signal`) throws. `deadlineMs` (a deal's, as `Date.now()` milliseconds) bounds the inputs and the run
 * together; the module's own wall clock is for the run alone, as in every re-run. `onOutput` gets stdout as
 * the job writes it (the provider's live output); it changes nothing in the result.
 */
export async function runPreparedJob(
  prepared: PreparedJob,
  run: { jobId: string; resultDir: string; signal?: AbortSignal; deadlineMs?: number; onOutput?: ExecutionRequest['onOutput'] },
): Promise<ExecutionResult | { exitCode: 1; failure: { message: string } }> {
  await rm(run.resultDir, { recursive: true, force: true });
  await mkdir(run.resultDir, { recursive: true });
  const inputsDir = prepared.inputs.length > 0 ? `${path.resolve(run.resultDir)}.inputs` : undefined;
  try {
    if (inputsDir !== undefined) {
      if (!prepared.inputStore) throw new ModuleError('the job takes inputs by CID and nothing here can fetch them', { code: 'inputs-unsupported' });
      await stageInputs(prepared.inputs, prepared.inputStore, inputsDir, { ...prepared.inputStore, peers: prepared.inputPeers, signal: run.signal });
    }
    const untilDeadline = run.deadlineMs === undefined ? Infinity : run.deadlineMs - Date.now();
    const wallClockMs = untilDeadline === Infinity ? undefined : Math.max(1000, Math.min(prepared.limits.wallClockMs ?? Infinity, untilDeadline));
    return await prepared.executor.run({
      jobId: run.jobId,
      randomSeed: prepared.randomSeed,
      job: prepared.executorJob,
      inputsDir,
      resultDir: run.resultDir,
      limits: wallClockMs === undefined ? prepared.limits : { ...prepared.limits, wallClockMs },
      signal: run.signal,
      onOutput: run.onOutput,
    });
  } catch (error) {
    if (run.signal?.aborted) throw error;
    const code = (error as { code?: unknown }).code;
    // Input failures carry their code, as the executor's own failures do (`failure.ts`).
    const message = error instanceof ModuleError && typeof code === 'string' && code.startsWith('input')
      ? `${code}: ${error.message}`
      : failureReason(error as Error, run.jobId);
    await writeFailureResult(run.resultDir, message);
    return { exitCode: 1, failure: { message } };
  } finally {
    if (inputsDir !== undefined) await rm(inputsDir, { recursive: true, force: true });
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
