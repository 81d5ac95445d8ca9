import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBlockstore } from 'blockstore-core/memory';
import type { Hex } from 'viem';
import { JobError } from '../lib/errors.js';
import { createModuleResolver } from '../module/resolve.js';
import { addBytes } from '../storage/index.js';
import { openJobStore, type JobStore } from './job-store.js';
import { checkPipeline, findDuplicateKey, parsePipeline, pipelineFailure, runPipeline, type CheckedPipeline, type PipelineComponents, type StepRun } from './pipeline.js';
import type { JobResult } from './types.js';

let dir: string;
let store: JobStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-pipeline-'));
  store = openJobStore(path.join(dir, 'jobs.db'));
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const file = () => path.join(dir, 'pipeline.json');
const parse = (steps: unknown) => parsePipeline(JSON.stringify({ steps }), file());
const refusal = (text: string, name = 'pipeline.json') => {
  try {
    parsePipeline(text, name);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('parsePipeline', () => {
  it('orders steps after those they need, and resolves @PATH and ./modules against the file\'s folder', () => {
    const pipeline = parse({
      infer: { module: 'lora-inference:v0.1.0', inputs: { LoraCID: '${{ steps.train.cid }}/outputs/lora.safetensors', Prompt: 'a lilypad' } },
      train: { module: './lora-training', inputs: { ImagesCID: '@./images', Steps: 100, Handle: '@@lilypad' } },
    });
    expect(pipeline.file).toBe(file());
    expect(pipeline.steps.map((step) => step.name)).toEqual(['train', 'infer']);
    expect(pipeline.steps[0]).toEqual({
      name: 'train',
      module: path.join(dir, 'lora-training'),
      inputs: { ImagesCID: { kind: 'local', path: path.join(dir, 'images') }, Steps: { kind: 'literal', value: '100' }, Handle: { kind: 'literal', value: '@lilypad' } },
      needs: [],
    });
    expect(pipeline.steps[1]!.needs).toEqual(['train']);
    expect(pipeline.steps[1]!.inputs.Prompt).toEqual({ kind: 'literal', value: 'a lilypad' });
  });

  it('the seed\'s lora flow as the README writes it: train, then infer with a path inside the trained CID', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /as `lora\.pipeline\.json`:\n\n```json\n([\s\S]*?)```/.exec(readme)![1]!;
    const pipeline = parsePipeline(example, file());
    expect(pipeline.steps.map((step) => [step.name, step.module, step.needs])).toEqual([['train', 'lora-training:v0.1.0', []], ['infer', 'lora-inference:v0.1.0', ['train']]]);
    expect(pipeline.steps[1]!.inputs.LoraCID).toEqual({ kind: 'template', text: '${{ steps.train.cid }}/outputs/lora.safetensors' });
    const yaml = /as `lora\.pipeline\.yaml`:\n\n```yaml\n([\s\S]*?)```/.exec(readme)![1]!;
    expect(parsePipeline(yaml, path.join(dir, 'lora.pipeline.yaml'))).toEqual({ ...pipeline, file: path.join(dir, 'lora.pipeline.yaml') });
  });

  it('refuses each bad file with one line naming the file and the step', () => {
    expect(refusal('{"steps": {')).toMatch(/^pipeline pipeline\.json: not valid JSON \(.+\)$/);
    expect(refusal('steps: {}', 'p.yaml')).toMatch(/^pipeline p\.yaml: "steps" must be an object of named steps/);
    expect(refusal('steps:\n  a: {module: m:v1}\n  a: {module: n:v1}\n', 'p.yml')).toBe('pipeline p.yml: a key appears twice (line 3); give each step a name of its own');
    expect(refusal('steps: [\n', 'p.yaml')).toMatch(/^pipeline p\.yaml: not valid YAML \(.+\)$/);
    expect(refusal('[]')).toBe('pipeline pipeline.json: expected an object {"steps": {...}}');
    expect(refusal('{"steps": {}}')).toMatch(/^pipeline pipeline\.json: "steps" must be an object of named steps/);
    expect(refusal('{"steps": {"a": {"module": "m:v1"}}, "extra": 1}')).toBe('pipeline pipeline.json: unknown key "extra" at the top level; a pipeline has only "steps"');
    expect(refusal('{"steps": {"a": {"module": "m:v1"}, "a": {"module": "n:v1"}}}')).toBe('pipeline pipeline.json: step a is defined twice; give each step a name of its own');
    expect(refusal('{"steps": {"a": {"module": "m:v1", "inputs": {"X": "1", "X": "2"}}}}')).toBe('pipeline pipeline.json: key "X" appears twice in steps.a.inputs');
    expect(refusal('{"steps": {"a": {"inputs": {}}}}')).toBe('pipeline pipeline.json: step a has no "module" (NAME:TAG, host/owner/repo:TAG or ./folder)');
    expect(refusal('{"steps": {"a": {"module": "m:v1", "needs": ["b"]}}}')).toBe('pipeline pipeline.json: step a has unknown key "needs"; a step has "module" and "inputs"');
    expect(refusal('{"steps": {"a": {"module": "m:v1", "inputs": {"X": ["1"]}}}}')).toBe('pipeline pipeline.json: step a: input X must be a string (or a number), not a list');
    expect(refusal('{"steps": {"a": {"module": "m:v1", "inputs": {"X": "${{ steps.b.dir }}"}}}}')).toBe(
      'pipeline pipeline.json: step a: input X has ${{ steps.b.dir }}; a reference is written ${{ steps.STEP.cid }}',
    );
  });

  it('refuses a reference to an unknown step, to the step itself, and a cycle', () => {
    const steps = (body: object) => JSON.stringify({ steps: body });
    expect(refusal(steps({ train: { module: 'm:v1' }, infer: { module: 'm:v1', inputs: { X: '${{ steps.trian.cid }}' } } }))).toBe(
      'pipeline pipeline.json: step infer names step trian, which the pipeline does not have (steps: train, infer)',
    );
    expect(refusal(steps({ a: { module: 'm:v1', inputs: { X: '${{ steps.a.cid }}' } } }))).toBe(
      'pipeline pipeline.json: step a names its own result; a step can only use results of other steps',
    );
    expect(
      refusal(steps({ a: { module: 'm:v1', inputs: { X: '${{ steps.c.cid }}' } }, b: { module: 'm:v1', inputs: { X: '${{ steps.a.cid }}' } }, c: { module: 'm:v1', inputs: { X: '${{ steps.b.cid }}' } } })),
    ).toBe('pipeline pipeline.json: steps a → c → b → a form a cycle; a step can only use results of steps that do not need it');
  });

  it('finds duplicate keys at any depth, and none in strings that look like keys', () => {
    expect(findDuplicateKey('{"a": 1, "b": {"c": "\\"a\\": 1, \\"a\\"", "d": [{"e": 1}, {"e": 2}]}}')).toBeUndefined();
    expect(findDuplicateKey('{"a": {"b": 1}, "a": 2}')).toEqual({ path: [], key: 'a' });
    expect(findDuplicateKey('{"x": [{"b": 1, "b": 2}]}')).toEqual({ path: ['x', '[]'], key: 'b' });
  });
});

describe('checkPipeline', () => {
  const modules = createModuleResolver({ moduleOrg: 'file:///nonexistent/lilypad-module-{name}' });

  it('passes a pipeline whose modules resolve and render with placeholders for results not made yet', async () => {
    const checked = await checkPipeline(parse({ a: { module: 'cowsay:v0.0.1', inputs: { Message: 'moo' } }, b: { module: 'cowsay:v0.0.1', inputs: { Message: '${{ steps.a.cid }}' } } }), modules);
    expect(checked.steps.map((step) => step.moduleRef)).toEqual([expect.stringContaining('cowsay'), expect.stringContaining('cowsay')]);
  });

  it('refuses a module that does not resolve, a missing input and missing local data, naming the step', async () => {
    await expect(checkPipeline(parse({ a: { module: 'cowsay:v0.0.1', inputs: { Message: 'moo' } }, b: { module: 'no such module' } }), modules)).rejects.toThrow(
      /^step b: "no such module" is not a module name: use NAME:TAG/,
    );
    await expect(checkPipeline(parse({ a: { module: path.join(dir, 'missing') } }), modules)).rejects.toThrow(`step a: module ${path.join(dir, 'missing')} not found`);
    await expect(checkPipeline(parse({ a: { module: 'cowsay:v0.0.1' } }), modules)).rejects.toThrow('step a: Message: missing; it is required (What the cow says)');
    await expect(checkPipeline(parse({ a: { module: 'cowsay:v0.0.1', inputs: { Message: '@./gone' } } }), modules)).rejects.toThrow(
      `step a: input Message names ${path.join(dir, 'gone')}, which does not exist (@PATH is relative to the pipeline file's folder)`,
    );
  });
});

/**
 * A small real runner: each job's result is the UnixFS CID of its module and inputs, so a step that names
 * another's result gets a CID that depends on it. `gate` lets a test hold a step until others have started.
 */
function hashingRunner(options: { fail?: string[]; gate?: (name: string) => Promise<void> } = {}) {
  const blocks = new MemoryBlockstore();
  const started: string[] = [];
  const runs: StepRun[] = [];
  const runStep = async (run: StepRun): Promise<JobResult> => {
    started.push(run.step.name);
    runs.push(run);
    run.onPosted(`0x${run.step.name.padStart(64, '0')}` as Hex);
    await options.gate?.(run.step.name);
    if (options.fail?.includes(run.step.name)) throw new JobError(`no resource provider can take the job of ${run.step.name}`, { code: 'job-unmatched' });
    const cid = (await addBytes(new TextEncoder().encode(JSON.stringify({ module: run.step.module, inputs: run.inputs })), blocks)).toString();
    return { dealId: '0x01', cid, dir: path.join(dir, cid), stdout: '', exitCode: 0, resourceProvider: '0x0000000000000000000000000000000000000001', price: 1n, state: 'results-submitted' };
  };
  return { started, runs, runStep };
}

const components = (runStep: PipelineComponents['runStep'], extra: Partial<PipelineComponents> = {}): PipelineComponents => ({
  store,
  runStep,
  addLocalPath: async (localPath) => `local:${localPath}`,
  networkIdentity: 'test',
  ...extra,
});

const checked = (steps: unknown): CheckedPipeline => {
  const pipeline = parse(steps);
  return { ...pipeline, steps: pipeline.steps.map((step) => ({ ...step, moduleRef: step.module })) };
};

const fanOutAndJoin = () =>
  checked({
    a: { module: 'make', inputs: { Data: '@./data' } },
    b: { module: 'read', inputs: { In: '${{ steps.a.cid }}/one' } },
    c: { module: 'read', inputs: { In: '${{ steps.a.cid }}/two' } },
    d: { module: 'join', inputs: { Left: '${{ steps.b.cid }}', Right: '${{ steps.c.cid }}/stdout' } },
  });

describe('runPipeline', () => {
  it('fan-out and join: b and c run at once after a, d after both, each with the results it names', async () => {
    let bothStarted!: () => void;
    const fanOut = new Promise<void>((resolve) => (bothStarted = resolve));
    const runner = hashingRunner({
      // b and c each wait for the other to start: sequential steps would never finish.
      gate: async (name) => {
        if (runner.started.includes('b') && runner.started.includes('c')) bothStarted();
        if (name === 'b' || name === 'c') await fanOut;
      },
    });
    const outcomes = await runPipeline(fanOutAndJoin(), components(runner.runStep));
    expect(outcomes.map((o) => [o.name, o.state])).toEqual([['a', 'done'], ['b', 'done'], ['c', 'done'], ['d', 'done']]);
    expect(runner.started[0]).toBe('a');
    expect(runner.started[3]).toBe('d');
    const [a, b, c] = outcomes;
    expect(runner.runs[0]!.inputs).toEqual({ Data: `local:${path.join(dir, 'data')}` });
    expect(runner.runs.find((run) => run.step.name === 'b')!.inputs).toEqual({ In: `${a!.cid}/one` });
    expect(runner.runs.find((run) => run.step.name === 'd')!.inputs).toEqual({ Left: b!.cid, Right: `${c!.cid}/stdout` });
    expect(pipelineFailure(outcomes)).toBeUndefined();
  });

  it('a failed step stops the steps that need it; the others still finish', async () => {
    const runner = hashingRunner({ fail: ['b'] });
    const outcomes = await runPipeline(fanOutAndJoin(), components(runner.runStep));
    expect(outcomes.map((o) => [o.name, o.state])).toEqual([['a', 'done'], ['b', 'failed'], ['c', 'done'], ['d', 'not-run']]);
    expect(runner.started).not.toContain('d');
    expect(pipelineFailure(outcomes)!.message).toBe('step b failed: no resource provider can take the job of b; not run: d');
  });

  it('run again, it reuses what was done and runs only the rest; a changed input runs its step and those after it', async () => {
    const first = hashingRunner({ fail: ['b'] });
    const before = await runPipeline(fanOutAndJoin(), components(first.runStep));
    const second = hashingRunner();
    const after = await runPipeline(fanOutAndJoin(), components(second.runStep));
    expect(after.map((o) => [o.name, o.state])).toEqual([['a', 'done-earlier'], ['b', 'done'], ['c', 'done-earlier'], ['d', 'done']]);
    expect(after[0]!.cid).toBe(before[0]!.cid);
    expect(second.started.sort()).toEqual(['b', 'd']);
    // b failed once and ran once more; a and c ran once.
    // Records come in the order they were last updated, to the second: compare them by name.
    const records = store.pipelineSteps(file()).map((record) => [record.step, record.stage, record.runs]);
    expect(records.sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual([['a', 'done', 1], ['b', 'done', 2], ['c', 'done', 1], ['d', 'done', 1]]);

    const edited = fanOutAndJoin();
    edited.steps[2]!.inputs.In = { kind: 'template', text: '${{ steps.a.cid }}/three' };
    const third = hashingRunner();
    await runPipeline(edited, components(third.runStep));
    expect(third.started.sort()).toEqual(['c', 'd']);
  });

  it('a result whose blocks are gone runs again; a job posted and not seen to finish is handed to the runner to follow', async () => {
    const pipeline = checked({ a: { module: 'make' } });
    await runPipeline(pipeline, components(hashingRunner().runStep));
    const events: string[] = [];
    const again = hashingRunner();
    await runPipeline(pipeline, components(again.runStep, { hasResult: async () => false }), { onEvent: (event) => events.push(event.type === 'step:started' ? `started ${event.rerun}` : event.type) });
    expect(again.started).toEqual(['a']);
    expect(events).toEqual(['started blocks-missing', 'step:ended']);

    const posted = checked({ p: { module: 'post' } });
    const killed = hashingRunner({ gate: async () => { throw new Error('killed'); } });
    await expect(runPipeline(posted, components(killed.runStep))).rejects.toThrow('killed');
    const resumed = hashingRunner();
    await runPipeline(posted, components(resumed.runStep));
    expect(resumed.runs[0]!.unfinishedJobId).toBe(`0x${'p'.padStart(64, '0')}`);
  });
});
