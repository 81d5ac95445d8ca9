/**
 * Typed module inputs through the CLI process, as a user meets them: a bad input to `lilypad run` fails at once
 * with one line per bad input and exit code 1, on a configured network with nothing posted, signed or paid
 * (while the same command with good inputs goes on to the network); `lilypad module test`, `module render`
 * and `pipeline run` refuse the same way; `lilypad module info` shows the declarations.
 */
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, deployContracts, escrowBalance, startAnvil, type AnvilInstance } from '../src/chain/index.js';
import type { DeployedContracts } from '../src/chain/deploy.js';
import { Hono } from 'hono';
import { listen, type RunningHttpServer } from '../src/lib/http-server.js';
import { processesWithMarker, runCli } from './helpers.js';

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const MAX_TOKENS_LINE = 'MaxTokens: 999 is more than the most, 256';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-typed-inputs-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('lilypad run with a bad input', () => {
  let anvil: AnvilInstance;
  let contracts: DeployedContracts;
  let solver: RunningHttpServer;
  const solverRequests: string[] = [];

  beforeAll(async () => {
    anvil = await startAnvil();
    const deployer = await connectChain({ rpcUrl: anvil.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: anvil.chainId });
    contracts = await deployContracts(deployer.walletClient, deployer.publicClient);
    // A solver that records whatever reaches it and takes nothing.
    const app = new Hono();
    app.all('*', (c) => {
      solverRequests.push(`${c.req.method} ${c.req.path}`);
      return c.json({ error: 'this solver takes nothing' }, 503);
    });
    solver = await listen(app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await solver?.close();
    await anvil?.stop();
  });

  const configured = () => ({
    WEB3_RPC_URL: anvil.rpcUrl,
    WEB3_PRIVATE_KEY: ANVIL_DEV_PRIVATE_KEYS[1],
    SERVICE_SOLVER: solver.url,
    SERVICE_MEDIATORS: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    LILYPAD_DEALS_ADDRESS: contracts.deals,
    LILYPAD_JOBS_DB: path.join(dir, 'jobs.db'),
  });

  it('fails at once with the clear message on the embedded network, before any network is started', async () => {
    const run = await runCli(['run', 'llm:v1', '-i', 'Prompt=hi', '-i', 'MaxTokens=999']);
    expect(run.stderr).toBe(`Error: ${MAX_TOKENS_LINE}\n`);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(1);
    // No chain, solver or provider was started for it.
    expect(processesWithMarker(run.marker)).toEqual([]);
  });

  it('on a configured network: one line per bad input, nothing posted, signed or paid', async () => {
    const chain = await connectChain({ rpcUrl: anvil.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[1], chainId: anvil.chainId });
    const jobCreator = chain.walletClient.account.address;
    const escrowBefore = await escrowBalance(chain.publicClient, { deals: contracts.deals, account: jobCreator });
    const tokensBefore = await chain.publicClient.getBalance({ address: jobCreator });
    const run = await runCli(['run', 'llm:v1', '-i', 'Prompt=hi', '-i', 'MaxTokens=999', '-i', 'Temperature=hot', '-i', 'Colour=red'], configured());
    expect(run.stderr.split('\n')).toEqual([
      'Error: Colour: llm:v1 has no such input; its inputs are Prompt, Seed, MaxTokens, Temperature, WeightsCID',
      MAX_TOKENS_LINE,
      'Temperature: "hot" is not a number (give one from 0 to 2)',
      '',
    ]);
    expect(run.code).toBe(1);
    expect(solverRequests).toEqual([]);
    expect(existsSync(path.join(dir, 'jobs.db'))).toBe(false);
    expect(await escrowBalance(chain.publicClient, { deals: contracts.deals, account: jobCreator })).toEqual(escrowBefore);
    expect(await chain.publicClient.getBalance({ address: jobCreator })).toEqual(tokensBefore);
    expect(await chain.publicClient.getTransactionCount({ address: jobCreator })).toBe(0);

    // The same command with good inputs goes on to the network (and stops at the next check there: this key's escrow is empty).
    const good = await runCli(['run', 'llm:v1', '-i', 'Prompt=hi', '-i', 'MaxTokens=16'], configured());
    expect(good.stderr).toMatch(/^Error: the escrow of 0x[0-9a-fA-F]{40} holds 0 LP, less than --max-price/);
  });
});

describe('the other commands that post or run a job refuse the same input', () => {
  it('lilypad module test and lilypad module render', async () => {
    for (const command of ['test', 'render']) {
      const run = await runCli(['module', command, 'lora-training:v1', '-i', 'DatasetCID=not-a-cid', '-i', 'Steps=0', '-i', 'Rank=17']);
      expect(run.stderr.split('\n')).toEqual([
        'Error: DatasetCID: "not-a-cid" is not a CID (give a CID such as bafy... (or a path inside one), or @PATH to send local data with lilypad run)',
        'Steps: 0 is less than the least, 1',
        'Rank: 17 is more than the most, 16',
        '',
      ]);
      expect(run.code).toBe(1);
    }
  });

  it('lilypad pipeline run names the step', async () => {
    const file = path.join(dir, 'pipeline.yaml');
    await writeFile(file, ['steps:', '  answer:', '    module: llm:v1', '    inputs: { Prompt: "The lily", MaxTokens: 999 }', ''].join('\n'));
    const run = await runCli(['pipeline', 'run', file]);
    expect(run.stderr).toBe(`Error: step answer: ${MAX_TOKENS_LINE}\n`);
    expect(run.code).toBe(1);
    expect(processesWithMarker(run.marker)).toEqual([]);
  });

  it('lilypad module render shows the canonical inputs with the defaults filled in', async () => {
    const run = await runCli(['module', 'render', 'llm:v1', '-i', 'Prompt=The lily', '-i', 'Temperature=0.50', '-i', 'MaxTokens=007']);
    expect(run.code, run.stderr).toBe(0);
    const parameters = JSON.parse(run.stdout).job.Spec.Wasm.Parameters as string[];
    expect(parameters.slice(0, 8)).toEqual(['--prompt', 'The lily', '--seed', '42', '--max-tokens', '7', '--temperature', '0.5']);
  });
});

describe('lilypad module info', () => {
  it('prints the description and a table of the inputs', async () => {
    const run = await runCli(['module', 'info', 'llm:v1']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^llm:v1 \(builtin\/llm at bafy\w+\)$/);
    expect(lines[1]).toMatch(/^Text completion by a small transformer/);
    expect(lines[3]).toMatch(/^INPUT +TYPE +DEFAULT +BOUNDS +REQUIRED +DESCRIPTION$/);
    const rows = lines.slice(4, -1).map((line) => line.split(/ {2,}/));
    expect(rows.map((row) => row[0])).toEqual(['Prompt', 'Seed', 'MaxTokens', 'Temperature', 'WeightsCID']);
    expect(rows[0]).toEqual(['Prompt', 'string', 'yes', 'The text to continue']);
    expect(rows[2]).toEqual(['MaxTokens', 'integer', '64', '1 to 256', 'no', 'How many tokens to write']);
    expect(rows[3]!.slice(0, 5)).toEqual(['Temperature', 'number', '0.5', '0 to 2', 'no']);
    // The columns line up.
    const column = lines[3]!.indexOf('BOUNDS');
    expect(lines[6]!.slice(column, column + 8)).toBe('1 to 256');
  });

  it('--json gives the declarations as module.json has them', async () => {
    const run = await runCli(['module', 'info', 'lora-training:v1', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const info = JSON.parse(run.stdout);
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'modules', 'lora-training', 'module.json'), 'utf8'));
    expect(info).toEqual({ module: 'lora-training:v1', repository: 'builtin/lora-training', commit: expect.stringMatching(/^bafy/), description: manifest.description, inputs: manifest.inputs });
  });

  it('an untyped module says so and names what its template reads; a malformed module.json is the author\'s to fix', async () => {
    const moduleDir = path.join(dir, 'untyped');
    await cp(path.join(repoRoot, 'modules', 'cowsay'), moduleDir, { recursive: true });
    await rm(path.join(moduleDir, 'module.json'));
    const untyped = await runCli(['module', 'info', moduleDir]);
    expect(untyped.code, untyped.stderr).toBe(0);
    expect(untyped.stdout).toContain('inputs: none declared (untyped text; its template reads Message); a module declares them in its module.json');
    // Untyped inputs pass as they are.
    expect((await runCli(['module', 'render', moduleDir, '-i', 'Message=moo'])).code).toBe(0);

    await writeFile(path.join(moduleDir, 'module.json'), JSON.stringify({ inputs: [{ name: 'Message', type: 'text', description: 'what the cow says' }] }));
    const malformed = await runCli(['module', 'info', moduleDir]);
    expect(malformed.stderr).toBe(`Error: module ${moduleDir} has malformed inputs in its module.json (its author must fix them):\n  inputs[0] (Message): type must be one of string, integer, number, boolean, enum, cid\n`);
    expect(malformed.code).toBe(1);
  });
});
