/**
 * What everyone who runs a job takes from its module: the seed (from module id and inputs, never the deal)
 * and the limits (wall clock from Timeout, memory from machine.ram).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { afterAll, expect, test } from 'vitest';

import { createWasmExecutor } from '../executor/wasm/index.js';
import { inputsHashOf, moduleIdOf } from '../protocol/ids.js';
import { addDirectory } from '../storage/index.js';
import { DEFAULT_JOB_MEMORY_BYTES, DEFAULT_JOB_WALL_CLOCK_MS, executionLimitsOf, executorJobOf, jobSeedOf } from './executor-job.js';
import { renderModule } from './render.js';
import type { ResolvedModule } from './resolve.js';
import type { ModuleSpec } from './spec.js';

const probe = readFileSync(new URL('../executor/wasm/testdata/probe.wasm', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'lilypad-executor-job-'));
const executor = createWasmExecutor({ spareWorker: false });
afterAll(async () => {
  await executor.close();
  rmSync(scratch, { recursive: true, force: true });
});

const module = { repository: 'https://example.org/random.git', commit: 'a'.repeat(40), path: '' };
const job = (inputs: Record<string, string>) => ({ moduleId: moduleIdOf(module), inputsHash: inputsHashOf(inputs) });

let runs = 0;
async function runRandom(dealId: string, seed: string): Promise<{ stdout: string; cid: string }> {
  const resultDir = join(scratch, `run-${++runs}`);
  const result = await executor.run({ jobId: dealId, randomSeed: seed, job: { engine: 'wasm', module: probe, args: ['random'], env: {} }, resultDir });
  expect(result.exitCode).toBe(0);
  return { stdout: readFileSync(join(resultDir, 'stdout'), 'utf8'), cid: (await addDirectory(resultDir, new MemoryBlockstore())).toString() };
}

test('a module printing 16 random bytes gives one result CID in two deals of the same job', async () => {
  const seed = jobSeedOf(job({ Seed: '1' }));
  const one = await runRandom('0x' + '11'.repeat(32), seed);
  const two = await runRandom('0x' + '22'.repeat(32), seed);
  expect(one.stdout).toMatch(/^[0-9a-f]{32}\n$/);
  expect(two).toEqual(one);
  // Another input (the user's Seed) gives other draws.
  const other = await runRandom('0x' + '11'.repeat(32), jobSeedOf(job({ Seed: '2' })));
  expect(other.stdout).not.toBe(one.stdout);
});

test('the seed is 32 bytes from the module id and the inputs hash, whatever their case', () => {
  const terms = job({ Seed: '1' });
  expect(jobSeedOf(terms)).toMatch(/^[0-9a-f]{64}$/);
  expect(jobSeedOf({ moduleId: terms.moduleId.toUpperCase(), inputsHash: terms.inputsHash })).toBe(jobSeedOf(terms));
  expect(jobSeedOf({ ...terms, moduleId: moduleIdOf({ ...module, commit: 'b'.repeat(40) }) })).not.toBe(jobSeedOf(terms));
});

const spec = (machine: { cpu: number; gpu: number; ram: number }, timeout?: number) =>
  ({ machine, job: { APIVersion: 'V1beta1', Spec: { Engine: 'Wasm', Inputs: [], Outputs: [], Timeout: timeout } } }) as unknown as ModuleSpec;

test('limits come from Timeout (seconds) and machine.ram (MB, as MiB), with the policy for what a module leaves out', () => {
  expect(executionLimitsOf(spec({ cpu: 1000, gpu: 0, ram: 64 }, 5))).toEqual({ wallClockMs: 5_000, memoryBytes: 64 * 1024 * 1024 });
  // A module that declares no RAM gets the same default everywhere, so every re-run hits the same cap.
  expect(executionLimitsOf(spec({ cpu: 1000, gpu: 0, ram: 0 }))).toEqual({ wallClockMs: DEFAULT_JOB_WALL_CLOCK_MS, memoryBytes: DEFAULT_JOB_MEMORY_BYTES });
  expect(executionLimitsOf(spec({ cpu: 1000, gpu: 0, ram: 0 }), { defaultWallClockMs: 30_000, defaultMemoryBytes: 1024 })).toEqual({
    wallClockMs: 30_000,
    memoryBytes: 1024,
  });
  expect(executionLimitsOf(spec({ cpu: 1000, gpu: 0, ram: 8 }, 3600), { maxWallClockMs: 60_000 }).wallClockMs).toBe(60_000);
});

test('a module declaring ram 64 that allocates without bound stops near 64 MiB', async () => {
  const resultDir = join(scratch, 'hog');
  const limits = executionLimitsOf(spec({ cpu: 1000, gpu: 0, ram: 64 }, 30));
  const result = await executor.run({ jobId: 'ab', randomSeed: jobSeedOf(job({})), job: { engine: 'wasm', module: probe, args: ['hog'], env: {} }, resultDir, limits });
  expect(result.exitCode).toBe(12);
  const mib = Number(/^hog stopped after (\d+) MiB\n$/.exec(readFileSync(join(resultDir, 'stdout'), 'utf8'))?.[1]);
  expect(mib).toBeGreaterThanOrEqual(56);
  expect(mib).toBeLessThan(64);
});

test('a Docker module becomes a Docker job from the one parsed Spec.Docker: command, environment, network and resources', async () => {
  const template = JSON.stringify({
    machine: { gpu: 1500, cpu: 1000, ram: 100 },
    job: {
      APIVersion: 'V1beta1',
      Spec: {
        Engine: 'Docker',
        Docker: { Image: 'lilypad/cowsay@sha256:' + 'a'.repeat(64), Entrypoint: ['/bin/cowsay', 'moo'], EnvironmentVariables: ['LANG=C', 'QUERY=a=b'], WorkingDirectory: '' },
        Network: { Type: 'HTTP' },
      },
    },
  });
  const module = { name: './cowsay-docker', template } as unknown as ResolvedModule;
  expect(await executorJobOf(module, renderModule(module.name, template, {}))).toEqual({
    engine: 'docker',
    image: 'lilypad/cowsay@sha256:' + 'a'.repeat(64),
    entrypoint: ['/bin/cowsay', 'moo'],
    args: [],
    env: { LANG: 'C', QUERY: 'a=b' },
    workingDir: undefined,
    network: true,
    resources: { cpu: 1000, memoryBytes: 100 * 1024 * 1024, gpus: 2 },
  });
});
