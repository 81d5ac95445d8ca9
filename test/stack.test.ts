/**
 * The network as separate processes: `lilypad stack up` starts a chain, a solver, a mediator and two
 * resource providers; jobs run through the real CLI with `lilypad stack env`; balances are read from the
 * chain; `lilypad stack down` leaves nothing running. Where a Docker engine answers, a Docker job checked
 * with --verify is re-run by the job creator on the same engine as the provider's and paid.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLilypadPublicClient, escrowBalance } from '../src/chain/index.js';
import { connectDocker } from '../src/executor/docker/index.js';
import { dockerSkipReason } from '../src/executor/docker/testdata/engine.js';
import { buildTestImage, writeCowsayModule } from '../src/executor/docker/testdata/test-image.js';
import { catInputModule, digestInputModule, fnv1a64, HOG_ERROR, hogModule, joinInputModule, processesWithMarker, runCli, spinModuleWithTimeout, startCli } from './helpers.js';

const dockerSkip = dockerSkipReason();

let dir: string;
let env: Record<string, string>;
let marker: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-stack-'));
  // The stack's services fetch modules from public hosts only; the tests' own modules are folders in the stack's.
  const up = await runCli(['stack', 'up', '--dir', dir, '--providers', '2'], { LILYPAD_MODULE_SOURCES: `file:${dir}/` });
  marker = up.marker;
  expect(up.stderr).toContain('resource-provider-2');
  expect(up.code).toBe(0);
  const printed = await runCli(['stack', 'env', '--dir', dir, '--json']);
  env = JSON.parse(printed.stdout);
}, 120_000);

afterAll(async () => {
  await runCli(['stack', 'down', '--dir', dir]);
  await rm(dir, { recursive: true, force: true });
});

async function totalEscrow(account: Address): Promise<bigint> {
  const publicClient = createLilypadPublicClient({ rpcUrl: env.WEB3_RPC_URL!, chainId: 31337 });
  const balance = await escrowBalance(publicClient, { deals: env.LILYPAD_DEALS_ADDRESS as Address, account });
  // A deal's price leaves the free escrow at agreement and never comes back on the happy path.
  return balance.free;
}

describe('lilypad stack', () => {
  it('prints the environment for lilypad run', () => {
    expect(Object.keys(env).sort()).toEqual(
      ['LILYPAD_DEALS_ADDRESS', 'LILYPAD_TOKEN_ADDRESS', 'SERVICE_MEDIATORS', 'SERVICE_SOLVER', 'WEB3_PRIVATE_KEY', 'WEB3_RPC_URL'].sort(),
    );
  });

  it('runs jobs through separate processes, and the job creator pays the price of each', async () => {
    const jobCreator = privateKeyToAccount(env.WEB3_PRIVATE_KEY as `0x${string}`).address;
    const before = await totalEscrow(jobCreator);
    const outputDir = path.join(dir, 'results');
    const runs = await Promise.all(
      ['one', 'two'].map((message) => runCli(['run', 'cowsay:v0.0.1', '-i', `Message=${message}`, '--json', '--output-dir', outputDir], env)),
    );
    for (const [index, run] of runs.entries()) {
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.stdout).toContain(`< ${['one', 'two'][index]} >`);
      expect(result.cid).toMatch(/^bafy/);
      expect(BigInt(result.price)).toBe(parseEther('1'));
    }
    expect(await totalEscrow(jobCreator)).toBe(before - 2n * parseEther('1'));
  });

  it('writes a network preset, so that lilypad run needs only a private key', async () => {
    const run = await runCli(['--network', 'stack', 'run', 'cowsay:v0.0.1', '-i', 'Message=preset', '--json', '--output-dir', path.join(dir, 'results')], {
      WEB3_PRIVATE_KEY: env.WEB3_PRIVATE_KEY,
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stdout).toContain('< preset >');
  });

  describe('a job that hits its limits ends at once, says which limit, and is paid', () => {
    it('runs past its Timeout', async () => {
      const moduleDir = await spinModuleWithTimeout(path.join(dir, 'spin-2s'), 2);
      const run = await runCli(['run', moduleDir, '-i', 'Rounds=100000000', '--json', '--output-dir', path.join(dir, 'results')], env);
      expect(run.code, run.stderr).toBe(1);
      const result = JSON.parse(run.stdout);
      expect(result.error).toMatch(/^wall-clock-limit: /);
      expect(result.exitCode).toBe(124);
      expect(result.state).toBe('results-submitted');
    });

    it('allocates without bound', async () => {
      const moduleDir = await hogModule(path.join(dir, 'hog'));
      const run = await runCli(['run', moduleDir, '--json', '--output-dir', path.join(dir, 'results')], env);
      expect(run.code, run.stderr).toBe(1);
      const result = JSON.parse(run.stdout);
      expect(result.error).toBe(HOG_ERROR);
      expect(result.state).toBe('results-submitted');
    });
  });

  describe.skipIf(Boolean(dockerSkip))(`a Docker job${dockerSkip ? ` (skipped: ${dockerSkip})` : ''}`, () => {
    let image: string;
    beforeAll(async () => {
      image = await buildTestImage(connectDocker(), await mkdtemp(path.join(dir, 'image-')));
    }, 120_000);
    afterAll(async () => {
      await connectDocker().getImage(image).remove().catch(() => {});
    });

    it('is re-run by the job creator with --verify, the same, and paid without a challenge', async () => {
      const moduleDir = path.join(dir, 'cowsay-docker');
      writeCowsayModule(moduleDir, image);
      const jobCreator = privateKeyToAccount(env.WEB3_PRIVATE_KEY as `0x${string}`).address;
      const before = await totalEscrow(jobCreator);
      const run = await runCli(['run', moduleDir, '-i', 'Message=docker', '--verify', '--output-dir', path.join(dir, 'results')], env);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('< docker >');
      expect(run.stdout).toContain('🔁 Re-ran the job here: same result');
      expect(run.stdout).not.toContain('challenged');
      // The price and no mediation fee.
      expect(await totalEscrow(jobCreator)).toBe(before - parseEther('1'));
    });
  });

  describe('data over IPFS between the processes', () => {
    // Several blocks per file and a nested folder, so that the walk and the chunking are both exercised.
    const files: Record<string, Uint8Array> = {
      'a.txt': new TextEncoder().encode('the first file\n'),
      'sub/b.bin': Uint8Array.from({ length: 3 * 1024 * 1024 + 17 }, (_, i) => (i * 7919) % 251),
      'sub/deeper/c.txt': new TextEncoder().encode('the third file\n'),
    };
    const expected = Object.entries(files)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, bytes]) => `/inputs/data/${name} ${fnv1a64(bytes)}`)
      .join('\n') + '\n';
    let moduleDir: string;
    let folder: string;
    beforeAll(async () => {
      moduleDir = await digestInputModule(path.join(dir, 'digest-module'));
      folder = path.join(dir, 'my-data');
      for (const [name, bytes] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(folder, name)), { recursive: true });
        await writeFile(path.join(folder, name), bytes);
      }
    });

    // The stack's providers and mediator are given no input gateway, and the job creator runs none: the
    // folder's bytes can only reach the provider over libp2p, from the node of the `lilypad run` process.
    it('a folder given with -i NAME=@./folder is read by the job at /inputs, every file whole', async () => {
      const run = await runCli(['run', moduleDir, '-i', `Data=@${folder}`, '--json', '--output-dir', path.join(dir, 'results')], env);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.stdout).toBe(expected);
      expect(await readFile(path.join(result.dir, 'outputs', 'digests.txt'), 'utf8')).toBe(expected);
    });

    it('a CID kept by `lilypad add` is served by the job creator\'s node to a later `lilypad run`', async () => {
      const added = await runCli(['add', folder, '--json'], env);
      expect(added.code).toBe(0);
      const { cid } = JSON.parse(added.stdout);
      const run = await runCli(['run', moduleDir, '-i', `Data=${cid}`, '--json', '--output-dir', path.join(dir, 'results')], env);
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout).stdout).toBe(expected);
    });

    it('a pipeline with a fan-out and a join runs across the providers, each step fetching the ones before', async () => {
      const catModule = await catInputModule(path.join(dir, 'cat-module'));
      const joinModule = await joinInputModule(path.join(dir, 'join-module'));
      const file = path.join(dir, 'fan-out.json');
      await writeFile(file, JSON.stringify({
        steps: {
          digest: { module: moduleDir, inputs: { Data: '@./my-data' } },
          b: { module: catModule, inputs: { DataCID: '${{ steps.digest.cid }}/outputs', File: '/inputs/data/digests.txt' } },
          c: { module: catModule, inputs: { DataCID: '${{ steps.digest.cid }}', File: '/inputs/data/stdout' } },
          d: { module: joinModule, inputs: { DataCID: '${{ steps.b.cid }}', OtherCID: '${{ steps.c.cid }}/stdout', File: '/inputs/other' } },
        },
      }));
      const run = await runCli(['pipeline', 'run', file, '--json', '-o', path.join(dir, 'pipeline-results')], env);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const { steps } = JSON.parse(run.stdout) as { steps: Array<{ name: string; state: string; dir: string }> };
      expect(steps.map((step) => [step.name, step.state])).toEqual([['digest', 'done'], ['b', 'done'], ['c', 'done'], ['d', 'done']]);
      expect(await readFile(path.join(steps[3]!.dir, 'stdout'), 'utf8')).toBe(expected);
    });

    it('a pipeline killed after its first step resumes without running that step again', async () => {
      const catModule = await catInputModule(path.join(dir, 'cat-module-2'));
      const file = path.join(dir, 'resume.json');
      await writeFile(file, JSON.stringify({
        steps: {
          one: { module: moduleDir, inputs: { Data: '@./my-data' } },
          two: { module: catModule, inputs: { DataCID: '${{ steps.one.cid }}', File: '/inputs/data/outputs/digests.txt' } },
        },
      }));
      const first = startCli(['pipeline', 'run', file], env);
      await first.printed(/^\[one\] done: /m);
      first.child.kill('SIGKILL');
      const oneCid = /^\[one\] done: (\S+)$/m.exec((await first.exited).stdout)![1];
      const again = await runCli(['pipeline', 'run', file], env);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`[one] done earlier: ${oneCid}\n`);
      const shown = JSON.parse((await runCli(['pipeline', 'show', file, '--json'], env)).stdout) as { steps: Array<{ name: string; runs: number }> };
      expect(shown.steps.find((step) => step.name === 'one')).toMatchObject({ runs: 1 });
    });
  });

  it('the seed\'s lora flow as a pipeline: lora-training on local texts, then lora-inference with the trained CID', async () => {
    await mkdir(path.join(dir, 'texts'), { recursive: true });
    await writeFile(path.join(dir, 'texts', 'pond.txt'), 'The lily pad floats on the quiet pond. '.repeat(100));
    const file = path.join(dir, 'lora.pipeline.yaml');
    await writeFile(file, [
      'steps:',
      '  train:',
      '    module: lora-training:v1',
      '    inputs: { DatasetCID: "@./texts", Steps: 8 }',
      '  infer:',
      '    module: lora-inference:v1',
      '    inputs: { LoraCID: "${{ steps.train.cid }}", Prompt: "The lily", MaxTokens: 16 }',
      '',
    ].join('\n'));
    const run = await runCli(['pipeline', 'run', file, '--json', '-o', path.join(dir, 'lora-results')], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const { steps } = JSON.parse(run.stdout) as { steps: Array<{ name: string; state: string; cid: string; dir: string }> };
    expect(steps.map((step) => [step.name, step.state])).toEqual([['train', 'done'], ['infer', 'done']]);
    const [train, infer] = steps;
    expect((await readFile(path.join(train!.dir, 'outputs', 'loss.csv'), 'utf8')).trim().split('\n')).toHaveLength(9);
    const completion = JSON.parse(await readFile(path.join(infer!.dir, 'outputs', 'completion.json'), 'utf8'));
    expect(completion.prompt).toBe('The lily');
    expect(completion.tokens.completion).toBe(16);
  });

  it('stops every process on stack down', async () => {
    const status = JSON.parse((await runCli(['stack', 'status', '--dir', dir, '--json'])).stdout);
    expect(status.processes.map((p: { name: string }) => p.name)).toEqual(['chain', 'solver', 'mediator', 'resource-provider-1', 'resource-provider-2']);
    expect(status.processes.every((p: { running: boolean }) => p.running)).toBe(true);
    const down = await runCli(['stack', 'down', '--dir', dir]);
    expect(down.stdout).toBe('stopped chain, solver, mediator, resource-provider-1, resource-provider-2\n');
    expect(processesWithMarker(marker)).toEqual([]);
  });
});
