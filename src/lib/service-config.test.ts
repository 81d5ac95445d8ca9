import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from './package-root.js';
import { loadServiceConfig, mediatorServiceSchema, resourceProviderServiceSchema, SOLVER_TUNING, solverServiceSchema, solverTuningOf } from './service-config.js';

const chain = { WEB3_RPC_URL: 'http://127.0.0.1:8545', LILYPAD_DEALS_ADDRESS: `0x${'d1'.repeat(20)}` };

describe("the solver's settings", () => {
  it('set the solver fields they name, times in seconds as milliseconds, and leave the rest to its defaults', () => {
    const config = loadServiceConfig(solverServiceSchema, {
      env: { ...chain, LILYPAD_SOLVER_AGREEMENT_TIMEOUT: '0.5' },
      flags: { LILYPAD_SOLVER_MAX_CONNECTIONS: '64', LILYPAD_SOLVER_RATE_PER_IP: '7' },
    });
    expect(solverTuningOf(config)).toEqual({ agreementTimeoutMs: 500, maxConnections: 64, perIpRate: 7 });
  });

  it('name the setting whose value is wrong', () => {
    expect(() => loadServiceConfig(solverServiceSchema, { env: { ...chain, LILYPAD_SOLVER_HEARTBEAT: 'soon' }, flags: {} })).toThrow(
      'LILYPAD_SOLVER_HEARTBEAT must be a number of seconds such as 30 or 0.5',
    );
    expect(() => loadServiceConfig(solverServiceSchema, { env: { ...chain, LILYPAD_SOLVER_MAX_SUBSCRIBERS: '0' }, flags: {} })).toThrow(
      'LILYPAD_SOLVER_MAX_SUBSCRIBERS must be at least 1',
    );
  });

  it('have one flag and one variable each, both in the README', () => {
    expect(new Set(SOLVER_TUNING.map((t) => t.flag)).size).toBe(SOLVER_TUNING.length);
    expect(new Set(SOLVER_TUNING.map((t) => t.variable)).size).toBe(SOLVER_TUNING.length);
    const readme = readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
    for (const t of SOLVER_TUNING) expect(readme).toContain(`| \`--${t.flag}\` | \`${t.variable}\` |`);
  });
});

describe('the gateways inputs by CID come from', () => {
  const signer = { ...chain, WEB3_PRIVATE_KEY: `0x${'1'.repeat(64)}` };

  it('are a comma-separated list of http(s) URLs, none by default', () => {
    expect(loadServiceConfig(mediatorServiceSchema, { env: signer, flags: {} }).LILYPAD_INPUT_GATEWAYS).toEqual([]);
    const config = loadServiceConfig(mediatorServiceSchema, { env: { ...signer, LILYPAD_INPUT_GATEWAYS: 'http://127.0.0.1:8081, https://gw.example' }, flags: {} });
    expect(config.LILYPAD_INPUT_GATEWAYS).toEqual(['http://127.0.0.1:8081', 'https://gw.example']);
  });

  it('refuse anything else, naming the setting', () => {
    expect(() => loadServiceConfig(mediatorServiceSchema, { env: { ...signer, LILYPAD_INPUT_GATEWAYS: 'ipfs.io' }, flags: {} })).toThrow(
      'LILYPAD_INPUT_GATEWAYS must be http(s) URLs, comma-separated',
    );
  });
});

describe("the resource provider's keeping time", () => {
  const provider = {
    ...chain,
    WEB3_PRIVATE_KEY: `0x${'11'.repeat(32)}`,
    SERVICE_SOLVER: 'http://127.0.0.1:8080',
    SERVICE_MEDIATORS: `0x${'a1'.repeat(20)}`,
  };
  const keepResults = (value: string | undefined) =>
    loadServiceConfig(resourceProviderServiceSchema({ cpu: 1000, gpu: 0, ram: 1024 }), { env: provider, flags: { LILYPAD_KEEP_RESULTS: value } }).LILYPAD_KEEP_RESULTS;

  it('takes days, hours, minutes or seconds, and is left to the provider’s default when unset', () => {
    expect([keepResults('7d'), keepResults('12h'), keepResults('30m'), keepResults('90s'), keepResults('3600')]).toEqual([604_800, 43_200, 1_800, 90, 3_600]);
    expect(keepResults(undefined)).toBeUndefined();
  });

  it('says what it takes when the value is not a duration', () => {
    expect(() => keepResults('a week')).toThrow('LILYPAD_KEEP_RESULTS must be a duration such as 7d, 12h, 30m or 3600 (seconds)');
  });
});

describe("the resource provider's GPUs", () => {
  const provider = {
    ...chain,
    WEB3_PRIVATE_KEY: `0x${'11'.repeat(32)}`,
    SERVICE_SOLVER: 'http://127.0.0.1:8080',
    SERVICE_MEDIATORS: `0x${'a1'.repeat(20)}`,
  };
  const gpus = (detected: { gpu: number; gpuMemory?: number }, env: Record<string, string> = {}, flags: Record<string, string> = {}) => {
    const config = loadServiceConfig(resourceProviderServiceSchema({ cpu: 1000, ram: 1024, ...detected }), { env: { ...provider, ...env }, flags });
    return { gpu: config.LILYPAD_GPU, gpuMemory: config.LILYPAD_GPU_MEMORY };
  };

  it('default to what nvidia-smi found; the environment and then --gpu-memory override the memory of each card', () => {
    expect(gpus({ gpu: 2000, gpuMemory: 24576 })).toEqual({ gpu: 2000, gpuMemory: 24576 });
    expect(gpus({ gpu: 0 })).toEqual({ gpu: 0, gpuMemory: undefined });
    expect(gpus({ gpu: 2000, gpuMemory: 24576 }, { LILYPAD_GPU_MEMORY: '16000' })).toEqual({ gpu: 2000, gpuMemory: 16000 });
    expect(gpus({ gpu: 0 }, { LILYPAD_GPU: '1000', LILYPAD_GPU_MEMORY: '16000' }, { LILYPAD_GPU_MEMORY: '8000' })).toEqual({ gpu: 1000, gpuMemory: 8000 });
  });

  it('are in the README’s settings table', () => {
    const readme = readFileSync(path.join(packageRoot(), 'README.md'), 'utf8');
    for (const [flag, variable] of [['gpu', 'LILYPAD_GPU'], ['gpu-memory', 'LILYPAD_GPU_MEMORY']]) expect(readme).toContain(`| \`--${flag}\` | \`${variable}\` |`);
  });
});
