/**
 * GPU modules in the seed's shape (`sdxl`, `lora-inference`: `"machine": {"gpu": 1, ...}`, `Resources.GPU`,
 * images by digest, an empty Wasm section): what they render to, what a job offer says they need, and the
 * GPUs their container is given.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { executorJobOf } from './executor-job.js';
import { renderModule } from './render.js';
import type { ResolvedModule } from './resolve.js';
import { machineOf } from './spec.js';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/modules/${name}/lilypad_module.json.tmpl`, import.meta.url), 'utf8');
const LORA_CID = 'bafkreigks6arfsq3xxfpvqrrwonchxcnu6do76auprhhfomao6c273sixm';

/** A Docker module with `machine` and `Resources` as given. */
const dockerTemplate = (machine: object, resources?: object, engine = 'Docker') =>
  JSON.stringify({
    machine,
    job: {
      APIVersion: 'V1beta1',
      Spec: {
        Engine: engine,
        Docker: { Image: `ghcr.io/x/gpu@sha256:${'b'.repeat(64)}` },
        Wasm: engine === 'Wasm' ? { EntryModule: { CID: 'bafkrei' } } : { EntryModule: {} },
        ...(resources ? { Resources: resources } : {}),
      },
    },
  });

const jobOf = (name: string, template: string, inputs: Record<string, string> = {}) =>
  executorJobOf({ name, template } as unknown as ResolvedModule, renderModule(name, template, inputs));

describe('the seed-shaped GPU modules render', () => {
  test('sdxl: one GPU with 24000 MB, 8 CPUs, 16000 MB of RAM; its container gets one GPU', async () => {
    const template = fixture('sdxl');
    const spec = renderModule('sdxl', template, { PromptEnv: 'PROMPT=a lilypad' });
    expect(machineOf(spec)).toEqual({ cpu: 8000, gpu: 1000, ram: 16000, gpuMemory: 24000 });
    expect(spec.job.Spec.Resources).toEqual({ GPU: 1, CPU: '8', Memory: '16gb' });
    const job = await jobOf('sdxl', template, { PromptEnv: 'PROMPT=a lilypad' });
    expect(job).toMatchObject({
      engine: 'docker',
      image: expect.stringMatching(/^ghcr\.io\/lilypad-tech\/sdxl@sha256:[0-9a-f]{64}$/),
      env: { PROMPT: 'a lilypad', RANDOM_SEED: '42', OUTPUT_DIR: '/outputs/', HF_HUB_OFFLINE: '1' },
      resources: { cpu: 8000, memoryBytes: 16000 * 1024 * 1024, gpus: 1 },
    });
  });

  test('lora-inference: its LoRA by CID at /inputs/lora, one GPU with 8000 MB', async () => {
    const template = fixture('lora-inference');
    const spec = renderModule('lora-inference', template, { LoraCID: LORA_CID, FineTuneWeighting: '0.7' });
    expect(machineOf(spec)).toEqual({ cpu: 1000, gpu: 1000, ram: 8000, gpuMemory: 8000 });
    expect(spec.job.Spec.Inputs).toEqual([{ StorageSource: 'IPFS', Name: 'lora', CID: LORA_CID, Path: '/inputs/lora' }]);
    const job = await jobOf('lora-inference', template, { LoraCID: LORA_CID, FineTuneWeighting: '0.7' });
    expect(job).toMatchObject({ engine: 'docker', env: { FINETUNE_WEIGHTING: '0.7', RANDOM_SEED: '42' }, resources: { gpus: 1 } });
  });
});

describe('how many GPUs a module asks for', () => {
  test('machine.gpu is milli-GPU, given as whole cards: 1 (as the original modules write it) and 1000 are one card, 1500 two', () => {
    expect(machineOf(renderModule('m', dockerTemplate({ gpu: 1, cpu: 1000, ram: 100 }), {})).gpu).toBe(1000);
    expect(machineOf(renderModule('m', dockerTemplate({ gpu: 1000, cpu: 1000, ram: 100 }), {})).gpu).toBe(1000);
    expect(machineOf(renderModule('m', dockerTemplate({ gpu: 1500, cpu: 1000, ram: 100 }), {})).gpu).toBe(2000);
  });

  test('where machine.gpu and Resources.GPU disagree, the larger is what the job needs and gets', async () => {
    const more = dockerTemplate({ gpu: 1, cpu: 1000, ram: 100 }, { GPU: '2' });
    expect(machineOf(renderModule('m', more, {})).gpu).toBe(2000);
    expect(await jobOf('m', more)).toMatchObject({ resources: { gpus: 2 } });
    const fewer = dockerTemplate({ gpu: 3000, cpu: 1000, ram: 100 }, { GPU: '1' });
    expect(machineOf(renderModule('m', fewer, {})).gpu).toBe(3000);
    // Resources.GPU alone asks for a card too.
    expect(machineOf(renderModule('m', dockerTemplate({ cpu: 1000, ram: 100 }, { GPU: '1' }), {})).gpu).toBe(1000);
  });

  test('a job that asks for no GPU gets none, and says no GPU memory', async () => {
    const template = dockerTemplate({ gpu: 0, cpu: 1000, ram: 100 });
    expect(machineOf(renderModule('m', template, {}))).toEqual({ cpu: 1000, gpu: 0, ram: 100 });
    expect(await jobOf('m', template)).toMatchObject({ resources: { gpus: undefined } });
  });

  test('mistakes are the module author’s, named where they are', () => {
    expect(() => renderModule('m', dockerTemplate({ gpu: 1, cpu: 1000, ram: 100 }, { GPU: 'one' }), {})).toThrow(
      'module m rendered an invalid job spec at job.Spec.Resources.GPU: Resources.GPU is a whole number of GPUs, such as "1"',
    );
    expect(() => renderModule('m', dockerTemplate({ gpu: 0, cpu: 1000, ram: 100, vram: 8000 }), {})).toThrow(
      'module m rendered an invalid job spec at machine.vram: vram is GPU memory, but the module asks for no GPU (set machine.gpu)',
    );
  });

  test('a WebAssembly module that asks for a GPU is refused: WebAssembly has none', () => {
    for (const [machine, resources] of [[{ gpu: 1, cpu: 1000, ram: 100 }, undefined], [{ cpu: 1000, ram: 100 }, { GPU: '1' }]] as const) {
      expect(() => renderModule('m', dockerTemplate(machine, resources, 'Wasm'), {})).toThrow(
        'module m rendered an invalid job spec at machine.gpu: the Wasm engine has no GPUs; a module that needs one runs on Docker',
      );
    }
  });
});
