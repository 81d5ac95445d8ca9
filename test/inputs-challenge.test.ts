/**
 * Challenged jobs with inputs by CID, on the embedded network: the job creator's folder is served by the
 * job creator's IPFS node on loopback, and the mediator fetches the same input to re-run the job. An honest
 * provider (the network's own, under its mediator) is upheld; a cheat (test/doubles/cheating-provider.mjs,
 * wrong-output, under a second mediator started here fetching from the same node) is slashed. Every figure is an
 * exact escrow balance read from the chain.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEther, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, fund } from '../src/chain/index.js';
import { runJob } from '../src/job-creator/run-job.js';
import { ANY_MODULE_SOURCE } from '../src/module/sources.js';
import { EMBEDDED_JOB_PRICE } from '../src/network/embedded.js';
import { startRoles, type RunningRoles } from '../src/network/wiring.js';
import { freeEscrows, INPUT_FILE_CONTENT, startInputsNetwork, startReadyProcess, stopProcesses, type InputsNetwork } from './helpers.js';

const doubles = fileURLToPath(new URL('./doubles/', import.meta.url));
const PRICE = EMBEDDED_JOB_PRICE;
const COLLATERAL = 2n * PRICE;
const FEE = parseEther('0.1');
const keys = { cheat: ANVIL_DEV_PRIVATE_KEYS[2], secondMediator: ANVIL_DEV_PRIVATE_KEYS[9] };

let dir: string;
let net: InputsNetwork;
let secondMediator: RunningRoles;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-inputs-challenge-'));
  net = await startInputsNetwork(dir);
  const { network } = net;

  const deployer = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: network.chainId });
  const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...network.contracts };
  await fund({ ...faucet, to: privateKeyToAccount(keys.cheat).address, eth: parseEther('1'), escrow: parseEther('100') });
  await fund({ ...faucet, to: privateKeyToAccount(keys.secondMediator).address, eth: parseEther('1') });
  // The second mediator fetches inputs as the network's provider and mediator do: from the job creator's node.
  secondMediator = await startRoles(
    {
      moduleSources: ANY_MODULE_SOURCE,
      executorOwner: `lilypad-inputs-challenge-${process.pid}`,
      solverUrl: network.solverUrl,
      mediator: { privateKey: keys.secondMediator, dataDir: path.join(dir, 'second-mediator') },
    },
    { chain: { rpcUrl: network.rpcUrl, dealsAddress: network.contracts.deals, chainId: network.chainId } },
  );
  await startReadyProcess(children, path.join(doubles, 'cheating-provider.mjs'), ['--policy', 'wrong-output'], {
    WEB3_RPC_URL: network.rpcUrl,
    WEB3_PRIVATE_KEY: keys.cheat,
    SERVICE_SOLVER: network.solverUrl,
    SERVICE_MEDIATORS: secondMediator.mediator!.address,
    LILYPAD_DEALS_ADDRESS: network.contracts.deals,
    LILYPAD_PRICE: PRICE.toString(),
    LILYPAD_COLLATERAL_MULTIPLE: '2',
    LILYPAD_DATA_DIR: path.join(dir, 'cheat'),
  });
}, 120_000);

afterAll(async () => {
  await stopProcesses(children);
  await secondMediator?.stop();
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

const balances = (accounts: Record<string, Address>) => freeEscrows(net.components.chain.publicClient, net.network.contracts.deals, accounts);

/** Runs the cat job on the folder under `mediator`, and challenges whatever comes back. */
const challengedRun = (mediator: Address, name: string) =>
  runJob(
    {
      module: net.moduleDir,
      inputs: { DataCID: net.folderCid, File: '/inputs/data/sub/a.txt' },
      maxPrice: 10n ** 19n,
      mediators: [mediator],
      resultsDir: path.join(dir, 'results', name),
      failWhenUnmatched: true,
      judge: () => false,
    },
    net.components,
  );

describe('a challenged job with inputs by CID', () => {
  it('honest provider: the mediator fetches the same input, gets the same CID and upholds the result', async () => {
    const jobCreator = privateKeyToAccount(net.network.jobCreatorPrivateKey).address;
    const accounts = { jobCreator, provider: net.network.resourceProvider, mediator: net.network.mediators[0]! };
    const before = await balances(accounts);
    const result = await challengedRun(accounts.mediator, 'honest');
    expect(result.resourceProvider.toLowerCase()).toBe(accounts.provider.toLowerCase());
    expect(result.state).toBe('mediation-accepted');
    // What the provider submitted read the input: the job creator fetched it before challenging.
    expect(await readFile(path.join(result.dir, 'stdout'), 'utf8')).toBe(INPUT_FILE_CONTENT);
    const after = await balances(accounts);
    expect(after.jobCreator - before.jobCreator).toBe(-PRICE - FEE);
    expect(after.provider - before.provider).toBe(PRICE);
    expect(after.mediator - before.mediator).toBe(FEE);
  }, 120_000);

  it('cheating provider: the mediator re-runs with the real input, the CIDs differ, the cheat is slashed', async () => {
    const jobCreator = privateKeyToAccount(net.network.jobCreatorPrivateKey).address;
    const accounts = { jobCreator, provider: privateKeyToAccount(keys.cheat).address, mediator: secondMediator.mediator!.address };
    const before = await balances(accounts);
    const result = await challengedRun(accounts.mediator, 'cheat');
    expect(result.resourceProvider.toLowerCase()).toBe(accounts.provider.toLowerCase());
    expect(result.state).toBe('mediation-rejected');
    const after = await balances(accounts);
    // The job creator gets its price back and the cheat's collateral, less the fee.
    expect(after.jobCreator - before.jobCreator).toBe(COLLATERAL - FEE);
    expect(after.provider - before.provider).toBe(-COLLATERAL);
    expect(after.mediator - before.mediator).toBe(FEE);

    // The mediator kept both results: its own re-run read the job creator's file over IPFS.
    const kept = path.join(dir, 'second-mediator', 'deals', result.dealId);
    await expect.poll(() => existsSync(path.join(kept, 'ruling.json')), { timeout: 20_000 }).toBe(true);
    expect(await readFile(path.join(kept, 'mediator', 'stdout'), 'utf8')).toBe(INPUT_FILE_CONTENT);
    expect(await readFile(path.join(kept, 'provider', 'stdout'), 'utf8')).toContain('trust me');
  }, 120_000);
});
