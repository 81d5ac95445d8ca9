/**
 * Pipelines: chains of jobs named in a small file, where a step's inputs may name earlier steps' results
 * (`${{ steps.train.cid }}`, or a path inside one: `${{ steps.train.cid }}/outputs/lora.safetensors`).
 * This module owns the file's format and its checks (all made before any job is posted), the order the
 * steps run in (each as soon as the steps it names are done, so independent steps run at once), the
 * resolution of references into CIDs, and resuming: every step is recorded, and a step whose module and
 * resolved inputs were done before is not run again. How one job runs is the caller's (`runStep`), so the
 * CLI runs steps on one network and a test on whatever it likes.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Hex } from 'viem';
import { parseDocument } from 'yaml';
import { isUserFacing, JobError, UserInputError } from '../lib/errors.js';
import { renderJob } from '../module/render.js';
import type { ModuleResolver } from '../module/resolve.js';
import type { JobProgressEvent, JobResult } from './types.js';

/** One input of a step as written: a literal, local data (`@PATH`), or a text with references to other steps. */
export type StepInput =
  | { kind: 'literal'; value: string }
  | { kind: 'local'; path: string }
  | { kind: 'template'; text: string };

export interface PipelineStep {
  name: string;
  /** As written, except that `./` and `../` folders are made absolute against the pipeline file's folder. */
  module: string;
  inputs: Record<string, StepInput>;
  /** The steps whose results this one's inputs name, in the order first named. */
  needs: string[];
}

export interface Pipeline {
  /** The pipeline file, absolute: the pipeline's identity in the job store. */
  file: string;
  /** In an order where every step comes after the steps it needs (file order where nothing says otherwise). */
  steps: PipelineStep[];
}

/** A `${{ ... }}` anywhere in an input's value; only `steps.NAME.cid` is known inside. */
const REFERENCE = /\$\{\{(.*?)\}\}/g;
const STEP_REFERENCE = /^\s*steps\.([A-Za-z_][A-Za-z0-9_-]*)\.cid\s*$/;
const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** The empty file's CID: a well-formed stand-in for a result not made yet, so a module's template can be checked now. */
const PLACEHOLDER_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';

function malformed(file: string, message: string): UserInputError {
  return new UserInputError(`pipeline ${file}: ${message}`, { code: 'pipeline-invalid' });
}

/**
 * Reads a pipeline file's text: `{"steps": {"NAME": {"module": "...", "inputs": {"KEY": "VALUE"}}}}`. Every
 * mistake is one line naming the file and the step: malformed JSON, a duplicate step name, an unknown key, a
 * reference to a step that does not exist, a cycle.
 */
function parseJsonDocument(text: string, file: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw malformed(file, `not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  // JSON.parse keeps the last of two equal keys without a word: a second step of the same name would vanish.
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    throw malformed(
      file,
      duplicate.path.length === 1 && duplicate.path[0] === 'steps'
        ? `step ${duplicate.key} is defined twice; give each step a name of its own`
        : `key ${JSON.stringify(duplicate.key)} appears twice in ${duplicate.path.join('.') || 'the top level'}`,
    );
  }
  return json;
}

/** YAML (a .yaml or .yml file): the same shape as the JSON; a key given twice is an error, as in JSON here. */
function parseYamlDocument(text: string, file: string): unknown {
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const [error] = document.errors;
  if (error) {
    const duplicate = /^Map keys must be unique/.test(error.message);
    throw malformed(file, duplicate ? `a key appears twice (line ${error.linePos?.[0].line ?? '?'}); give each step a name of its own` : `not valid YAML (${error.message.split('\n')[0]})`);
  }
  return document.toJS();
}

export function parsePipeline(text: string, file: string): Pipeline {
  const absolute = path.resolve(file);
  const json = /\.ya?ml$/i.test(file) ? parseYamlDocument(text, file) : parseJsonDocument(text, file);
  if (!isPlainObject(json)) throw malformed(file, 'expected an object {"steps": {...}}');
  const unknownTop = Object.keys(json).filter((key) => key !== 'steps');
  if (unknownTop.length > 0) throw malformed(file, `unknown key ${JSON.stringify(unknownTop[0])} at the top level; a pipeline has only "steps"`);
  if (!isPlainObject(json.steps) || Object.keys(json.steps).length === 0) {
    throw malformed(file, '"steps" must be an object of named steps, e.g. {"steps": {"train": {"module": "...", "inputs": {...}}}}');
  }

  const folder = path.dirname(absolute);
  const steps: PipelineStep[] = [];
  for (const [name, body] of Object.entries(json.steps)) {
    if (!STEP_NAME.test(name)) throw malformed(file, `step name ${JSON.stringify(name)} is not letters, digits, _ and - (starting with a letter or _)`);
    if (!isPlainObject(body)) throw malformed(file, `step ${name} must be an object with "module" and "inputs"`);
    const unknown = Object.keys(body).filter((key) => key !== 'module' && key !== 'inputs');
    if (unknown.length > 0) throw malformed(file, `step ${name} has unknown key ${JSON.stringify(unknown[0])}; a step has "module" and "inputs"`);
    if (typeof body.module !== 'string' || body.module.trim() === '') throw malformed(file, `step ${name} has no "module" (NAME:TAG, host/owner/repo:TAG or ./folder)`);
    const rawInputs = body.inputs ?? {};
    if (!isPlainObject(rawInputs)) throw malformed(file, `step ${name}: "inputs" must be an object of KEY: VALUE`);
    const inputs: Record<string, StepInput> = {};
    const needs: string[] = [];
    for (const [key, value] of Object.entries(rawInputs)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw malformed(file, `step ${name}: input ${key} must be a string (or a number), not ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`);
      }
      const text = String(value);
      if (text.startsWith('@@')) {
        inputs[key] = { kind: 'literal', value: text.slice(1) };
      } else if (text.startsWith('@')) {
        if (text.length === 1) throw malformed(file, `step ${name}: input ${key} is "@" without a path (@PATH names local data; @@ for a value starting with @)`);
        inputs[key] = { kind: 'local', path: path.resolve(folder, text.slice(1)) };
      } else {
        const references = [...text.matchAll(REFERENCE)];
        for (const match of references) {
          const named = STEP_REFERENCE.exec(match[1]!);
          if (!named) throw malformed(file, `step ${name}: input ${key} has ${match[0]}; a reference is written \${{ steps.STEP.cid }}`);
          if (!needs.includes(named[1]!)) needs.push(named[1]!);
        }
        inputs[key] = references.length > 0 ? { kind: 'template', text } : { kind: 'literal', value: text };
      }
    }
    const module = body.module.startsWith('./') || body.module.startsWith('../') ? path.resolve(folder, body.module) : body.module;
    steps.push({ name, module, inputs, needs });
  }

  const byName = new Map(steps.map((step) => [step.name, step]));
  for (const step of steps) {
    for (const needed of step.needs) {
      if (needed === step.name) throw malformed(file, `step ${step.name} names its own result; a step can only use results of other steps`);
      if (!byName.has(needed)) throw malformed(file, `step ${step.name} names step ${needed}, which the pipeline does not have (steps: ${steps.map((s) => s.name).join(', ')})`);
    }
  }
  return { file: absolute, steps: dependencyOrder(steps, byName, file) };
}

/** The steps, each after those it needs, or a one-line error naming a cycle. */
function dependencyOrder(steps: PipelineStep[], byName: Map<string, PipelineStep>, file: string): PipelineStep[] {
  const ordered: PipelineStep[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (step: PipelineStep, trail: string[]) => {
    if (state.get(step.name) === 'done') return;
    if (state.get(step.name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(step.name)), step.name];
      throw malformed(file, `steps ${cycle.join(' → ')} form a cycle; a step can only use results of steps that do not need it`);
    }
    state.set(step.name, 'visiting');
    for (const needed of step.needs) visit(byName.get(needed)!, [...trail, step.name]);
    state.set(step.name, 'done');
    ordered.push(step);
  };
  for (const step of steps) visit(step, []);
  return ordered;
}

export interface CheckedStep extends PipelineStep {
  /** What the module resolved to (repository, commit, path): part of the step's fingerprint, so a new version runs again. */
  moduleRef: string;
}

export interface CheckedPipeline extends Pipeline {
  steps: CheckedStep[];
}

/**
 * The checks that need more than the file, all made before any job is posted: every module resolves, renders
 * with the step's inputs (a result not made yet stands in as a placeholder CID) and every `@PATH` exists.
 */
export async function checkPipeline(pipeline: Pipeline, modules: ModuleResolver): Promise<CheckedPipeline> {
  const steps: CheckedStep[] = [];
  for (const step of pipeline.steps) {
    const inputs: Record<string, string> = {};
    for (const [key, input] of Object.entries(step.inputs)) {
      if (input.kind === 'local' && !(await stat(input.path).catch(() => undefined))) {
        throw new UserInputError(`step ${step.name}: input ${key} names ${input.path}, which does not exist (@PATH is relative to the pipeline file's folder)`, {
          code: 'path-missing',
        });
      }
      inputs[key] = input.kind === 'literal' ? input.value : input.kind === 'local' ? PLACEHOLDER_CID : input.text.replace(REFERENCE, PLACEHOLDER_CID);
    }
    try {
      const module = await modules.resolve(step.module);
      renderJob(module, inputs);
      steps.push({ ...step, moduleRef: JSON.stringify(module.ref) });
    } catch (error) {
      if (!isUserFacing(error)) throw error;
      throw new UserInputError(`step ${step.name}: ${error.message}`, { code: error.code, cause: error });
    }
  }
  return { ...pipeline, steps };
}

/** This machine's record of a step: how far it got, for one fingerprint (module and resolved inputs). */
export type PipelineStepStage = 'running' | 'done' | 'failed';

export interface PipelineStepRecord {
  pipeline: string;
  step: string;
  fingerprint: string;
  stage: PipelineStepStage;
  /** How many times this step was started with this fingerprint. */
  runs: number;
  /** The job's offer id once posted (configured networks record the job under it). */
  jobId?: Hex;
  cid?: string;
  dir?: string;
  error?: string;
  createdAt: number;
  updatedAt: number;
}

/** Where steps are recorded (the job store, `job-store.ts`). */
export interface PipelineStepStore {
  findStep(pipeline: string, step: string, fingerprint: string): PipelineStepRecord | undefined;
  /** Records a step's progress; `running` counts a run. Fields left out keep what was recorded. */
  recordStep(record: { pipeline: string; step: string; fingerprint: string; stage: PipelineStepStage; jobId?: Hex; cid?: string; dir?: string; error?: string }): void;
  /** The latest record of each step of the pipeline. */
  pipelineSteps(pipeline: string): PipelineStepRecord[];
}

export interface StepRun {
  step: CheckedStep;
  /** The inputs with local data and references resolved to CIDs: what the job offer carries. */
  inputs: Record<string, string>;
  /** The job of an earlier run of this step that was posted and not seen to finish: follow it rather than post again, where the network can. */
  unfinishedJobId?: Hex;
  /** To be called with the job's offer id once it is signed, before it is sent. */
  onPosted(jobId: Hex): void;
  onProgress(event: JobProgressEvent): void;
}

export interface PipelineComponents {
  store: PipelineStepStore;
  /** Runs one step's job to its end. */
  runStep(run: StepRun): Promise<JobResult>;
  /** Adds local data (`@PATH`, absolute) where the network's providers fetch it and gives its CID. */
  addLocalPath(localPath: string): Promise<string>;
  /**
   * Where the steps run (`embedded`, or a chain and deal contract): a result made elsewhere may not be
   * reachable by this network's providers, so it is part of each step's fingerprint.
   */
  networkIdentity: string;
  /** Whether a result recorded earlier can still feed later steps (its blocks are at hand); default yes. */
  hasResult?(cid: string): Promise<boolean>;
}

export type StepState = 'done' | 'done-earlier' | 'failed' | 'not-run';

export interface StepOutcome {
  name: string;
  module: string;
  state: StepState;
  cid?: string;
  dir?: string;
  jobId?: Hex;
  /** Who ran it, when it ran now. */
  resourceProvider?: Hex;
  /** Why it failed or did not run. */
  error?: string;
}

export type PipelineEvent =
  | { type: 'step:started'; step: string; rerun?: 'blocks-missing' | 'following' }
  | { type: 'step:progress'; step: string; event: JobProgressEvent }
  | { type: 'step:ended'; outcome: StepOutcome };

export interface RunPipelineOptions {
  signal?: AbortSignal;
  onEvent?: (event: PipelineEvent) => void;
}

/**
 * Runs every step, each once the steps it needs are done, and returns their outcomes in the pipeline's
 * order. A step done earlier with the same fingerprint is reused, not run. A failed step stops the steps
 * that need it; the others still finish. Only a stop (the signal) or a bug ends it early.
 */
export async function runPipeline(pipeline: CheckedPipeline, components: PipelineComponents, options: RunPipelineOptions = {}): Promise<StepOutcome[]> {
  const emit = options.onEvent ?? (() => undefined);
  const byName = new Map(pipeline.steps.map((step) => [step.name, step]));
  const outcomes = new Map<string, Promise<StepOutcome>>();
  // Local data is added once, however many steps name it.
  const localCids = new Map<string, Promise<string>>();
  const cidOfLocal = (localPath: string) => {
    if (!localCids.has(localPath)) localCids.set(localPath, components.addLocalPath(localPath));
    return localCids.get(localPath)!;
  };

  const outcomeOf = (step: CheckedStep): Promise<StepOutcome> => {
    if (!outcomes.has(step.name)) outcomes.set(step.name, runOne(step));
    return outcomes.get(step.name)!;
  };

  async function runOne(step: CheckedStep): Promise<StepOutcome> {
    const needed = await Promise.all(step.needs.map((name) => outcomeOf(byName.get(name)!)));
    const base = { name: step.name, module: step.module };
    const unmet = needed.filter((outcome) => outcome.state !== 'done' && outcome.state !== 'done-earlier');
    if (unmet.length > 0) {
      const outcome: StepOutcome = { ...base, state: 'not-run', error: `it needs ${unmet.map((o) => o.name).join(' and ')}, which did not finish` };
      emit({ type: 'step:ended', outcome });
      return outcome;
    }
    options.signal?.throwIfAborted();
    const cids = new Map(needed.map((outcome) => [outcome.name, outcome.cid!]));
    const inputs: Record<string, string> = {};
    for (const [key, input] of Object.entries(step.inputs)) {
      inputs[key] =
        input.kind === 'literal' ? input.value
        : input.kind === 'local' ? await cidOfLocal(input.path)
        : input.text.replace(REFERENCE, (_, inner: string) => cids.get(STEP_REFERENCE.exec(inner)![1]!)!);
    }
    const fingerprint = fingerprintOf(step, inputs, components.networkIdentity);
    const key = { pipeline: pipeline.file, step: step.name, fingerprint };
    const recorded = components.store.findStep(pipeline.file, step.name, fingerprint);
    let rerun: 'blocks-missing' | 'following' | undefined;
    if (recorded?.stage === 'done' && recorded.cid) {
      if (!components.hasResult || (await components.hasResult(recorded.cid))) {
        const outcome: StepOutcome = { ...base, state: 'done-earlier', cid: recorded.cid, dir: recorded.dir, jobId: recorded.jobId };
        emit({ type: 'step:ended', outcome });
        return outcome;
      }
      rerun = 'blocks-missing';
    }
    const unfinishedJobId = recorded?.stage === 'running' ? recorded.jobId : undefined;
    if (unfinishedJobId) rerun = 'following';
    emit({ type: 'step:started', step: step.name, rerun });
    components.store.recordStep({ ...key, stage: 'running' });
    let jobId = unfinishedJobId;
    try {
      const result = await components.runStep({
        step,
        inputs,
        unfinishedJobId,
        onPosted: (id) => {
          jobId = id;
          components.store.recordStep({ ...key, stage: 'running', jobId: id });
        },
        onProgress: (event) => emit({ type: 'step:progress', step: step.name, event }),
      });
      const failure = failureOf(result);
      const outcome: StepOutcome = { ...base, state: failure ? 'failed' : 'done', cid: result.cid, dir: result.dir, jobId, resourceProvider: result.resourceProvider, error: failure };
      components.store.recordStep({ ...key, stage: failure ? 'failed' : 'done', cid: result.cid, dir: result.dir, error: failure });
      emit({ type: 'step:ended', outcome });
      return outcome;
    } catch (error) {
      // A stop or a bug ends the pipeline; what the network or the job says is this step's failure alone.
      if (options.signal?.aborted || !isUserFacing(error)) throw error;
      components.store.recordStep({ ...key, stage: 'failed', error: error.message });
      const outcome: StepOutcome = { ...base, state: 'failed', jobId, error: error.message };
      emit({ type: 'step:ended', outcome });
      return outcome;
    }
  }

  const settled = await Promise.allSettled(pipeline.steps.map(outcomeOf));
  const thrown = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (thrown) throw thrown.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<StepOutcome>).value);
}

/** Why a finished job does not count as done, or undefined when it does. */
function failureOf(result: JobResult): string | undefined {
  if (result.state === 'mediation-accepted') return undefined;
  if (result.state === 'mediation-rejected' || result.state === 'mediation-timed-out') return `its result was challenged and the mediation ended ${result.state}`;
  if (result.error) return result.error;
  if (result.exitCode !== 0) return `the job exited with code ${result.exitCode}; see ${result.dir}/stderr`;
  return undefined;
}

/**
 * What makes a step's result what it is: the module's resolved version, the inputs as CIDs and values, and
 * the network. Jobs are deterministic, so the same fingerprint gives the same result, and a step that was
 * done with it need not run again; an edit of the step, of the data behind an `@PATH` or of a step it needs
 * gives another fingerprint, and the step runs.
 */
export function fingerprintOf(step: CheckedStep, inputs: Record<string, string>, networkIdentity: string): string {
  const sortedInputs = Object.fromEntries(Object.entries(inputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(JSON.stringify({ module: step.moduleRef, inputs: sortedInputs, network: networkIdentity })).digest('hex');
}

/** One line for a pipeline whose steps did not all finish, naming each failed step and its reason. */
export function pipelineFailure(outcomes: StepOutcome[]): JobError | undefined {
  const failed = outcomes.filter((outcome) => outcome.state === 'failed');
  const notRun = outcomes.filter((outcome) => outcome.state === 'not-run');
  if (failed.length === 0 && notRun.length === 0) return undefined;
  const reasons = failed.map((outcome) => `step ${outcome.name} failed: ${outcome.error}`);
  const skipped = notRun.length > 0 ? `; not run: ${notRun.map((outcome) => outcome.name).join(', ')}` : '';
  return new JobError(`${reasons.join('; ')}${skipped}`, { code: 'pipeline-step-failed' });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The first key that appears twice in one object of a valid JSON text, with the keys leading to that object. */
export function findDuplicateKey(text: string): { path: string[]; key: string } | undefined {
  const stack: Array<{ keys?: Set<string>; key?: string }> = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const top = stack.at(-1);
      if (top?.keys && expectKey) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return { path: stack.slice(0, -1).map((frame) => frame.key ?? '[]'), key };
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = end;
    } else if (ch === '{') {
      stack.push({ keys: new Set() });
      expectKey = true;
    } else if (ch === '[') {
      stack.push({});
    } else if (ch === '}' || ch === ']') {
      stack.pop();
    } else if (ch === ',') {
      expectKey = stack.at(-1)?.keys !== undefined;
    }
  }
  return undefined;
}
