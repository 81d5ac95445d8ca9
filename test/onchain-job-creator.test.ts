/**
 * Smart contracts as job creators: the seed's ExampleClient asks the on-chain job creator for cowsay,
 * the bridge runs it through the embedded network (as the contract, by ERC-1271 signatures), and the
 * client receives the result CID in its callback. A job that cannot run is refunded after its timeout. A
 * provider that lies is challenged through the contract, and the client is refunded at once.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getAddress, parseEther, parseEventLogs, type Address, type Hex } from 'viem';
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
  challengeJobResults,
  escrowBalance,
  type ChainClients,
} from '../src/chain/index.js';
import { createWasmExecutor } from '../src/executor/wasm/index.js';
import type { Executor } from '../src/executor/types.js';
import { createResourceProvider } from '../src/resource-provider/resource-provider.js';
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

  bridge = await startBridge();
}, 60_000);

async function startBridge(): Promise<Bridge> {
  const blockstore = await openBlockstore(path.join(dir, `bridge-blocks-${blockstores.length}`));
  blockstores.push(blockstore);
  const started = createBridge(
    // Every job is re-run here (a cheating provider below must be caught, not sampled).
    { contract: jobCreator, mediators: network.mediators, maxPrice: parseEther('10'), resultsDir: path.join(dir, 'bridge-results'), verify: true },
    { chain: operator, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore },
  );
  await started.start();
  return started;
}

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

  it('delivers the result of a challenged job once the mediator upholds it; the contract has paid the fee', async () => {
    // Before the cheating provider below is started: its offers stay posted after it stops.
    // The operator challenges an honest result by hand while the bridge is down; the bridge, back, follows the ruling.
    await bridge.stop();
    const user = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[8], chainId: network.chainId });
    const asked = await send(user, (w) => w.writeContract({ address: client, abi: exampleClientAbi, functionName: 'runCowsay', args: ['upheld'], value: JOB_PRICE_COIN }));
    const jobId = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: asked.logs })[0]!.args.jobId;
    const escrowBefore = (await escrowBalance(deployer.publicClient, { deals: network.contracts.deals, account: jobCreator })).free;
    const operatorBlocks = await openBlockstore(path.join(dir, 'operator-upheld-blocks'));
    blockstores.push(operatorBlocks);
    const ruled = await runJob(
      { module: 'cowsay:v0.0.1', inputs: { Message: 'upheld' }, maxPrice: parseEther('10'), mediators: network.mediators, resultsDir: path.join(dir, 'operator-upheld'), jobCreator, judge: () => false },
      {
        chain: operator,
        domain: network.domain,
        solver: createSolverClient(network.solverUrl),
        modules: network.modules,
        readDeal: network.readDeal,
        blockstore: operatorBlocks,
        challenge: (args) => challengeJobResults(operator, { jobCreator, jobId, ...args }),
      },
    );
    expect(ruled.state).toBe('mediation-accepted');
    // A challenged job's results can only be those of its challenged deal.
    const otherDeal = (await deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [1n] })).dealId as Hex;
    await expect(
      operator.walletClient.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'deliverResults', args: [jobId, otherDeal, ruled.cid] }),
    ).rejects.toThrow(/DealNotOfJob/);
    await expect(
      operator.walletClient.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refund', args: [jobId] }),
    ).rejects.toThrow(/TooEarlyToRefund/);

    bridge = await startBridge();
    await bridge.idle();
    const count = await deployer.publicClient.readContract({ address: client, abi: exampleClientAbi, functionName: 'resultCount' });
    const [deliveredJob, cid] = await deployer.publicClient.readContract({ address: client, abi: exampleClientAbi, functionName: 'results', args: [count - 1n] });
    expect(deliveredJob).toBe(jobId);
    expect(cid).toBe(ruled.cid);
    const deal = await network.readDeal(ruled.dealId);
    expect((await escrowBalance(deployer.publicClient, { deals: network.contracts.deals, account: jobCreator })).free).toBe(escrowBefore - deal.price - deal.mediationFee);
  }, 60_000);

  it('challenges a wrong result through the contract: the client is refunded at once, the cheat loses its collateral', async () => {
    // Before the refund test below, which moves the chain's clock past every offer's expiry.
    // A provider that runs the job, then changes its stdout before the CID is taken; cheaper than the
    // network's honest one, so it gets the job.
    const cheatKey = generatePrivateKey();
    const cheatAddress = privateKeyToAccount(cheatKey).address;
    const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...network.contracts };
    await fund({ ...faucet, to: cheatAddress, eth: parseEther('1'), escrow: parseEther('100') });
    const honest = createWasmExecutor();
    const lying: Executor = {
      engine: honest.engine,
      isAvailable: () => honest.isAvailable(),
      prepare: () => honest.prepare(),
      close: () => honest.close(),
      async run(request) {
        const result = await honest.run(request);
        const stdout = path.join(request.resultDir, 'stdout');
        await writeFile(stdout, (await readFile(stdout, 'utf8')) + 'trust me\n');
        return result;
      },
    };
    const cheatBlocks = await openBlockstore(path.join(dir, 'cheat-blocks'));
    blockstores.push(cheatBlocks);
    const price = parseEther('0.5');
    const cheat = createResourceProvider(
      { price, collateralMultiple: 2n, capacity: 2, machine: { cpu: 4000, gpu: 0, ram: 4096 }, modules: ['cowsay:v0.0.1'], mediators: network.mediators, dataDir: path.join(dir, 'cheat') },
      {
        chain: await connectChain({ rpcUrl: network.rpcUrl, privateKey: cheatKey, chainId: network.chainId }),
        domain: network.domain,
        solver: createSolverClient(network.solverUrl),
        executors: [lying],
        modules: network.modules,
        blockstore: cheatBlocks,
      },
    );
    await cheat.start();
    try {
      const mediator = network.mediators[0]!;
      const free = async (account: Address) => (await escrowBalance(deployer.publicClient, { deals: network.contracts.deals, account })).free;
      const before = { contract: await free(jobCreator), cheat: await free(cheatAddress), mediator: await free(mediator) };

      const user = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[7], chainId: network.chainId });
      const userAddress = privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[7]).address;
      const asked = await send(user, (w) => w.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'runModuleWithDefaultMediators', args: ['cowsay:v0.0.1', 'Message=cheat'], value: JOB_PRICE_COIN }));
      const [added] = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: asked.logs });
      const jobId = added!.args.jobId;
      const coinAfterAsking = await user.publicClient.getBalance({ address: userAddress });

      const getJob = () => deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [jobId] });
      await expect.poll(async () => (await getJob()).state, { timeout: 60_000, interval: 200 }).toBe(3); // Refunded

      // Refunded by the bridge right after the ruling, not after the job timeout: the client paid no gas for it.
      expect(await user.publicClient.getBalance({ address: userAddress })).toBe(coinAfterAsking + JOB_PRICE_COIN);
      const job = await getJob();
      const deal = await deployer.publicClient.readContract({ address: network.contracts.deals, abi: lilypadDealsAbi, functionName: 'getDeal', args: [job.dealId as Hex] });
      expect(getAddress(deal.resourceProvider)).toBe(getAddress(cheatAddress));
      expect(deal.state).toBe(6); // MediationRejected
      const collateral = 2n * price;
      const fee = deal.mediationFee;
      const after = { contract: await free(jobCreator), cheat: await free(cheatAddress), mediator: await free(mediator) };
      // The contract paid the price and the fee, and got back the price and the slashed collateral.
      expect(after.contract - before.contract).toBe(collateral - fee);
      expect(after.cheat - before.cheat).toBe(-collateral);
      expect(after.mediator - before.mediator).toBe(fee);
      // Nothing was delivered to the client: no JobCompleted for this job.
      const completed = await deployer.publicClient.getContractEvents({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, eventName: 'JobCompleted', args: { jobId }, fromBlock: 0n });
      expect(completed).toEqual([]);

      // Only the operator may challenge, once; the gas of the challenge through the contract is measured.
      const [challenged] = await deployer.publicClient.getContractEvents({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, eventName: 'JobResultsChallenged', args: { jobId }, fromBlock: 0n });
      const receipt = await deployer.publicClient.getTransactionReceipt({ hash: challenged!.transactionHash! });
      expect(receipt.gasUsed).toBeLessThan(150_000n);
      process.stdout.write(`on-chain job creator challengeResults: ${receipt.gasUsed} gas\n`);
      const byUser = user.walletClient.writeContract({
        address: jobCreator,
        abi: lilypadOnChainJobCreatorAbi,
        functionName: 'challengeResults',
        args: [jobId, job.dealId as Hex, `0x${'00'.repeat(32)}`, network.mediators, `0x${'00'.repeat(32)}`],
      });
      await expect(byUser).rejects.toThrow(/NotOperator/);

      // A job challenged before the bridge went down follows the ruling when it is back: refunded at once.
      await bridge.stop();
      const askedAgain = await send(user, (w) => w.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'runModuleWithDefaultMediators', args: ['cowsay:v0.0.1', 'Message=again'], value: JOB_PRICE_COIN }));
      const againId = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: askedAgain.logs })[0]!.args.jobId;
      const coinBeforeRefund = await user.publicClient.getBalance({ address: userAddress });
      // The operator runs and challenges it by hand, as the bridge did before it stopped.
      const operatorBlocks = await openBlockstore(path.join(dir, 'operator-blocks'));
      blockstores.push(operatorBlocks);
      const ruled = await runJob(
        { module: 'cowsay:v0.0.1', inputs: { Message: 'again' }, maxPrice: parseEther('10'), mediators: network.mediators, resultsDir: path.join(dir, 'operator-results'), jobCreator, judge: () => false },
        {
          chain: operator,
          domain: network.domain,
          solver: createSolverClient(network.solverUrl),
          modules: network.modules,
          readDeal: network.readDeal,
          blockstore: operatorBlocks,
          challenge: (args) => challengeJobResults(operator, { jobCreator, jobId: againId, ...args }),
        },
      );
      expect(ruled.state).toBe('mediation-rejected');
      const challengedJob = await deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [againId] });
      expect(challengedJob).toMatchObject({ state: 1, dealId: ruled.dealId }); // Requested, marked with its challenged deal
      bridge = await startBridge();
      await bridge.idle();
      expect((await deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [againId] })).state).toBe(3);
      expect(await user.publicClient.getBalance({ address: userAddress })).toBe(coinBeforeRefund + JOB_PRICE_COIN);
    } finally {
      await cheat.stop();
      await honest.close();
    }
  }, 90_000);

  it('refunds a job that could not run once its timeout has passed', async () => {
    const user = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[6], chainId: network.chainId });
    const userAddress = privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[6]).address;
    const asked = await send(user, (w) => w.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'runModuleWithDefaultMediators', args: ['nosuchmodule:v1', 'Message=moo'], value: JOB_PRICE_COIN }));
    const jobId = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: asked.logs })[0]!.args.jobId;
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

  it('keeps the refund of a client contract that takes no coin until it claims it', async () => {
    // ExampleClient has no receive(): the refund is owed to it, and its owner (the deployer) claims it.
    await bridge.stop(); // nobody runs the job
    const user = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[7], chainId: network.chainId });
    const asked = await send(user, (w) => w.writeContract({ address: client, abi: exampleClientAbi, functionName: 'runCowsay', args: ['nobody runs this'], value: JOB_PRICE_COIN }));
    const jobId = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: asked.logs })[0]!.args.jobId;
    await deployer.publicClient.request({ method: 'evm_increaseTime' as never, params: [Number(JOB_TIMEOUT)] as never });
    const refunded = await send(user, (w) => w.writeContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refund', args: [jobId] }));
    expect(parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'RefundOwed', logs: refunded.logs })[0]!.args).toMatchObject({ amount: JOB_PRICE_COIN });
    const owed = () => deployer.publicClient.readContract({ address: jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refundsOwed', args: [client] });
    expect(await owed()).toBe(JOB_PRICE_COIN);

    await expect(user.walletClient.writeContract({ address: client, abi: exampleClientAbi, functionName: 'claimRefund' })).rejects.toThrow(/NotOwner/);
    const owner = deployer.walletClient.account.address;
    const before = await deployer.publicClient.getBalance({ address: owner });
    const claimed = await send(deployer, (w) => w.writeContract({ address: client, abi: exampleClientAbi, functionName: 'claimRefund' }));
    const after = await deployer.publicClient.getBalance({ address: owner });
    expect(after - before).toBe(JOB_PRICE_COIN - claimed.gasUsed * claimed.effectiveGasPrice);
    expect(await owed()).toBe(0n);
  });

});
