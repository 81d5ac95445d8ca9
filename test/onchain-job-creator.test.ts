/**
 * Smart contracts as job creators: the seed's ExampleClient asks the on-chain job creator for cowsay,
 * the bridge runs it through the embedded network (as the contract, by ERC-1271 signatures), and the
 * client receives the result CID in its callback. A job that cannot run is refunded after its timeout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getAddress, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge, type Bridge } from '../src/bridge/bridge.js';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  connectChain,
  deployOnChainJobCreator,
  exampleClientAbi,
  exampleClientBytecode,
  fund,
  lilypadDealsAbi,
  lilypadOnChainJobCreatorAbi,
  lilypadTokenAbi,
  type ChainClients,
} from '../src/chain/index.js';
import { runJob } from '../src/job-creator/run-job.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { createSolverClient } from '../src/solver/client.js';
import { closeBlockstore, openBlockstore, type Blockstore } from '../src/storage/index.js';

const JOB_PRICE_COIN = parseEther('2'); // "Payment is 2 lilETH for all jobs", as in the seed
const JOB_TIMEOUT = 3600n;

let network: EmbeddedNetwork;
let dir: string;
let deployer: ChainClients;
let operator: ChainClients;
let jobCreator: Address;
let client: Address;
let bridge: Bridge;
const blockstores: Blockstore[] = [];

async function send(clients: ChainClients, write: (walletClient: ChainClients['walletClient']) => Promise<Hex>) {
  const hash = await write(clients.walletClient);
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).toBe('success');
  return receipt;
}

beforeAll(async () => {
  network = await startEmbeddedNetwork();
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-onchain-'));
  deployer = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: network.chainId });
  const operatorKey = generatePrivateKey();
  operator = await connectChain({ rpcUrl: network.rpcUrl, privateKey: operatorKey, chainId: network.chainId });
  const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...network.contracts };
  await fund({ ...faucet, to: operator.walletClient.account.address, eth: parseEther('1') });

  jobCreator = await deployOnChainJobCreator(deployer, {
    deals: network.contracts.deals,
    operator: operator.walletClient.account.address,
    priceLp: parseEther('2'),
    priceCoin: JOB_PRICE_COIN,
    jobTimeout: JOB_TIMEOUT,
  });
  // The owner turns collected coin into LP escrow for the deals of coin-paid jobs.
  await fund({ ...faucet, to: deployer.walletClient.account.address, lp: parseEther('10') });
  await send(deployer, (w) => w.writeContract({ address: network.contracts.token, abi: lilypadTokenAbi, functionName: 'approve', args: [jobCreator, parseEther('10')] }));
  await send(deployer, (w) => w.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'fundEscrow', args: [parseEther('10')] }));

  const deployed = await deployer.publicClient.waitForTransactionReceipt({
    hash: await deployer.walletClient.deployContract({ abi: exampleClientAbi, bytecode: exampleClientBytecode, args: [jobCreator] }),
  });
  client = deployed.contractAddress!;

  const blockstore = await openBlockstore(path.join(dir, 'bridge-blocks'));
  blockstores.push(blockstore);
  bridge = createBridge(
    { contract: jobCreator, mediators: network.mediators, maxPrice: parseEther('10'), resultsDir: path.join(dir, 'bridge-results') },
    { chain: operator, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore },
  );
  await bridge.start();
}, 60_000);

afterAll(async () => {
  await bridge?.stop();
  for (const blockstore of blockstores) await closeBlockstore(blockstore);
  await network?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the on-chain job creator', () => {
  it('runs cowsay for ExampleClient through the network and calls back with the result CID', async () => {
    const user = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[5], chainId: network.chainId });
    await send(user, (w) => w.writeContract({ address: client, abi: exampleClientAbi, functionName: 'runCowsay', args: ['moo'], value: JOB_PRICE_COIN }));

    const read = <T>(functionName: 'resultCount') => deployer.publicClient.readContract({ address: client, abi: exampleClientAbi, functionName }) as Promise<T>;
    await expect.poll(() => read<bigint>('resultCount'), { timeout: 30_000, interval: 100 }).toBe(1n);
    const [jobId, cid] = await deployer.publicClient.readContract({ address: client, abi: exampleClientAbi, functionName: 'results', args: [0n] });
    expect(jobId).toBe(1n);

    // The same job run by a person gives the same CID: the result is the module's, not the bridge's.
    const blockstore = await openBlockstore(path.join(dir, 'person-blocks'));
    blockstores.push(blockstore);
    const person = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
    const direct = await runJob(
      { module: 'cowsay:v0.0.1', inputs: { Message: 'moo' }, maxPrice: parseEther('10'), mediators: network.mediators, resultsDir: path.join(dir, 'person-results') },
      { chain: person, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore },
    );
    expect(cid).toBe(direct.cid);

    // The deal was the contract's own, paid from its escrow.
    const job = await deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [1n] });
    const deal = await deployer.publicClient.readContract({ address: network.contracts.deals, abi: lilypadDealsAbi, functionName: 'getDeal', args: [job.dealId as Hex] });
    expect(getAddress(deal.jobCreator)).toBe(getAddress(jobCreator));
    expect(await deployer.publicClient.readContract({ address: network.contracts.deals, abi: lilypadDealsAbi, functionName: 'escrowBalance', args: [jobCreator] })).toBe(
      parseEther('10') - deal.price,
    );
  });

  it('refunds a job that could not run once its timeout has passed', async () => {
    const user = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[6], chainId: network.chainId });
    const userAddress = privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[6]).address;
    await send(user, (w) => w.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'runModuleWithDefaultMediators', args: ['nosuchmodule:v1', 'Message=moo'], value: JOB_PRICE_COIN }));
    const jobId = 2n;
    const refund = () => user.walletClient.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refund', args: [jobId] });
    await expect(refund()).rejects.toThrow(/TooEarlyToRefund/);

    await bridge.idle();
    await deployer.publicClient.request({ method: 'evm_increaseTime' as never, params: [Number(JOB_TIMEOUT)] as never });
    const before = await user.publicClient.getBalance({ address: userAddress });
    const receipt = await user.publicClient.waitForTransactionReceipt({ hash: await refund() });
    const after = await user.publicClient.getBalance({ address: userAddress });
    expect(after - before).toBe(JOB_PRICE_COIN - receipt.gasUsed * receipt.effectiveGasPrice);
    const job = await deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [jobId] });
    expect(job.state).toBe(3); // Refunded
  });
});
