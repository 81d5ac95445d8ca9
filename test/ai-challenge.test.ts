/**
 * Verification of AI work on the embedded network: a cheating provider (test/doubles/cheating-provider.mjs,
 * a real process) that trains fewer steps than lora-training's Steps, or answers lora-inference with the base
 * model's output, is caught by the job creator's re-run (--verify), challenged, re-run by the mediator with a
 * different CID, and loses its collateral. An honest training job is re-run to the same CID and paid. Every
 * figure is an exact escrow balance read from the chain.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEther, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, fund } from '../src/chain/index.js';
import { runCheckedJob } from '../src/job-creator/audit.js';
import type { CheckProgressEvent } from '../src/job-creator/verify.js';
import type { JobCreatorComponents } from '../src/job-creator/types.js';
import { jobInputStore } from '../src/module/builtin-data.js';
import { EMBEDDED_JOB_PRICE } from '../src/network/embedded.js';
import { startRoles, type RunningRoles } from '../src/network/wiring.js';
import { addDirectory } from '../src/storage/index.js';
import { freeEscrows, startInputsNetwork, startReadyProcess, stopProcesses, type InputsNetwork } from './helpers.js';

const doubles = fileURLToPath(new URL('./doubles/', import.meta.url));
const llmWasm = fileURLToPath(new URL('../modules/llm/llm.wasm', import.meta.url));
const PRICE = EMBEDDED_JOB_PRICE;
const COLLATERAL = 2n * PRICE;
const FEE = parseEther('0.1');
const keys = { lessTraining: ANVIL_DEV_PRIVATE_KEYS[2], baseModel: ANVIL_DEV_PRIVATE_KEYS[3], secondMediator: ANVIL_DEV_PRIVATE_KEYS[9] };
const STEPS = '6';

let dir: string;
let net: InputsNetwork;
let components: JobCreatorComponents;
let datasetCid: string;
let secondMediator: RunningRoles;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-ai-challenge-'));
  net = await startInputsNetwork(dir);
  // The job creator re-runs jobs here (--verify), fetching inputs as a provider does.
  components = { ...net.components, inputs: jobInputStore({ ipfs: net.ipfs, gatewayUrls: [], blockstore: net.blocks }) };
  await mkdir(path.join(dir, 'dataset'));
  await writeFile(path.join(dir, 'dataset', 'lilies.txt'), 'The lily pad floats on the pond. '.repeat(200));
  datasetCid = (await addDirectory(path.join(dir, 'dataset'), net.blocks)).toString();

  const { network } = net;
  const deployer = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: network.chainId });
  const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...network.contracts };
  for (const key of [keys.lessTraining, keys.baseModel]) await fund({ ...faucet, to: privateKeyToAccount(key).address, eth: parseEther('1'), escrow: parseEther('100') });
  await fund({ ...faucet, to: privateKeyToAccount(keys.secondMediator).address, eth: parseEther('1') });
  secondMediator = await startRoles(
    {
      executorOwner: `lilypad-ai-challenge-${process.pid}`,
      solverUrl: network.solverUrl,
      mediator: { privateKey: keys.secondMediator, dataDir: path.join(dir, 'second-mediator') },
    },
    { chain: { rpcUrl: network.rpcUrl, dealsAddress: network.contracts.deals, chainId: network.chainId } },
  );
  const cheatEnv = {
    WEB3_RPC_URL: network.rpcUrl,
    SERVICE_SOLVER: network.solverUrl,
    SERVICE_MEDIATORS: secondMediator.mediator!.address,
    LILYPAD_DEALS_ADDRESS: network.contracts.deals,
    LILYPAD_PRICE: PRICE.toString(),
    LILYPAD_COLLATERAL_MULTIPLE: '2',
  };
  // One cheat per module, so that the solver has one offer to match each job with.
  await startReadyProcess(children, path.join(doubles, 'cheating-provider.mjs'), ['--policy', 'less-work'], {
    ...cheatEnv,
    WEB3_PRIVATE_KEY: keys.lessTraining,
    LILYPAD_MODULES: 'lora-training:v1',
    LILYPAD_DATA_DIR: path.join(dir, 'less-training'),
    LILYPAD_CHEAT_ARGS: JSON.stringify({ [STEPS]: '2' }),
  });
  await startReadyProcess(children, path.join(doubles, 'cheating-provider.mjs'), ['--policy', 'less-work'], {
    ...cheatEnv,
    WEB3_PRIVATE_KEY: keys.baseModel,
    LILYPAD_MODULES: 'lora-inference:v1',
    LILYPAD_DATA_DIR: path.join(dir, 'base-model'),
    LILYPAD_CHEAT_MODULE: llmWasm,
    LILYPAD_CHEAT_DROP: JSON.stringify(['--lora']),
  });
}, 180_000);

afterAll(async () => {
  await stopProcesses(children);
  await secondMediator?.stop();
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

const balances = (accounts: Record<string, Address>) => freeEscrows(net.components.chain.publicClient, net.network.contracts.deals, accounts);

const verifiedRun = (module: string, inputs: Record<string, string>, mediator: Address, name: string, checks: CheckProgressEvent[]) =>
  runCheckedJob(
    { verify: true, onCheck: (event) => checks.push(event) },
    { module, inputs, maxPrice: 10n ** 19n, mediators: [mediator], resultsDir: path.join(dir, 'results', name), failWhenUnmatched: true },
    components,
  );

describe('verification of AI work', () => {
  let trainedCid: string;

  it('an honest lora-training job is re-run here to the same CID and paid, without a challenge', async () => {
    const checks: CheckProgressEvent[] = [];
    const result = await verifiedRun('lora-training:v1', { DatasetCID: datasetCid, Steps: STEPS, LearningRate: '0.005' }, net.network.mediators[0]!, 'honest-training', checks);
    expect(result.exitCode).toBe(0);
    expect(checks).toEqual([expect.objectContaining({ type: 'verify:rerun', matches: true })]);
    expect(await readFile(path.join(result.dir, 'outputs', 'loss.csv'), 'utf8')).toMatch(new RegExp(`^.*\\n(?:.*\\n){${Number(STEPS) - 1}}${STEPS},`, 'm'));
    trainedCid = result.cid;
  }, 240_000);

  it('a provider that trains 2 steps instead of 6 is caught, challenged and slashed', async () => {
    const jobCreator = privateKeyToAccount(net.network.jobCreatorPrivateKey).address;
    const accounts = { jobCreator, provider: privateKeyToAccount(keys.lessTraining).address, mediator: secondMediator.mediator!.address };
    const before = await balances(accounts);
    const checks: CheckProgressEvent[] = [];
    const result = await verifiedRun('lora-training:v1', { DatasetCID: datasetCid, Steps: STEPS, LearningRate: '0.005' }, accounts.mediator, 'less-training', checks);
    expect(result.resourceProvider.toLowerCase()).toBe(accounts.provider.toLowerCase());
    expect(checks).toContainEqual(expect.objectContaining({ type: 'verify:rerun', matches: false }));
    expect(result.state).toBe('mediation-rejected');
    const after = await balances(accounts);
    expect(after.jobCreator - before.jobCreator).toBe(COLLATERAL - FEE);
    expect(after.provider - before.provider).toBe(-COLLATERAL);
    expect(after.mediator - before.mediator).toBe(FEE);
  }, 240_000);

  it('a provider that answers lora-inference with the base model, ignoring the adapter, is caught and slashed', async () => {
    expect(trainedCid).toBeDefined();
    const jobCreator = privateKeyToAccount(net.network.jobCreatorPrivateKey).address;
    const accounts = { jobCreator, provider: privateKeyToAccount(keys.baseModel).address, mediator: secondMediator.mediator!.address };
    const before = await balances(accounts);
    const checks: CheckProgressEvent[] = [];
    const result = await verifiedRun('lora-inference:v1', { LoraCID: trainedCid, Prompt: 'The lily', MaxTokens: '24' }, accounts.mediator, 'base-model', checks);
    expect(result.resourceProvider.toLowerCase()).toBe(accounts.provider.toLowerCase());
    expect(checks).toContainEqual(expect.objectContaining({ type: 'verify:rerun', matches: false }));
    expect(result.state).toBe('mediation-rejected');
    const after = await balances(accounts);
    expect(after.jobCreator - before.jobCreator).toBe(COLLATERAL - FEE);
    expect(after.provider - before.provider).toBe(-COLLATERAL);
  }, 240_000);
});
