/**
 * Smart contracts as job creators: the seed's ExampleClient asks the on-chain job creator for cowsay,
 * the bridge runs it through the embedded network (as the contract, by ERC-1271 signatures), and the
 * client receives the result CID in its callback. A job that cannot run is refunded after its timeout. A
 * provider that lies is challenged through the contract, and the client is refunded at once.
 * Then the contract's own rules, attacked by direct chain calls on a deal kit of its own: no refund while a
 * job's deal is open or has paid, a timeout fixed per job, the owner takes only the surplus, and a client's
 * callback gets a fixed allowance of gas.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { concatHex, encodeFunctionData, getAddress, numberToHex, parseEther, parseEventLogs, size, type Address, type Hex } from 'viem';
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
  agreeDeal,
  bindJobOffer,
  challengeJobResults,
  deliverJobResults,
  escrowBalance,
  settleResults,
  submitResults,
  timeoutSubmitResults,
  type ChainClients,
} from '../src/chain/index.js';
import { LP, startDealsKit, type DealsKit } from '../src/chain/testing.js';
import type { SignedJobOfferTerms } from '../src/protocol/eip712.js';
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
      { module: 'cowsay:v0.0.1', inputs: { Message: 'upheld' }, maxPrice: parseEther('10'), mediators: network.mediators, resultsDir: path.join(dir, 'operator-upheld'), jobCreator, judge: () => false,
        onOffer: async (_offer, dealId) => void (await bindJobOffer(operator, { jobCreator, jobId, dealId })) },
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
    ).rejects.toThrow(/JobHasResults/); // the provider has been paid: the results are the client's

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
        { module: 'cowsay:v0.0.1', inputs: { Message: 'again' }, maxPrice: parseEther('10'), mediators: network.mediators, resultsDir: path.join(dir, 'operator-results'), jobCreator, judge: () => false,
          onOffer: async (_offer, dealId) => void (await bindJobOffer(operator, { jobCreator, jobId: againId, dealId })) },
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

describe('the on-chain job creator under attack (direct chain calls)', () => {
  const PRICE_LP = LP(2);
  const PRICE_COIN = parseEther('2');
  const TIMEOUT = 600n;
  let kit: DealsKit;
  let owner: ChainClients;
  let bridgeKey: ChainClients;
  let provider: ChainClients;
  let user: ChainClients;
  let userAddress: Address;

  beforeAll(async () => {
    kit = await startDealsKit();
    owner = kit.deployer;
    bridgeKey = kit.clientsFor(generatePrivateKey());
    provider = kit.clientsFor(generatePrivateKey());
    user = kit.clientsFor(generatePrivateKey());
    userAddress = user.walletClient.account.address;
    await kit.fundParty(bridgeKey.walletClient.account.address, { eth: parseEther('10') });
    await kit.fundParty(provider.walletClient.account.address, { eth: parseEther('10'), escrow: LP(1000) });
    await kit.fundParty(userAddress, { eth: parseEther('100'), lp: LP(100) });
    await kit.fundParty(owner.walletClient.account.address, { lp: LP(1000) });
  }, 60_000);
  afterAll(async () => {
    await kit?.stop();
  });

  const mined = async (clients: ChainClients, hash: Promise<Hex>) => {
    const receipt = await clients.publicClient.waitForTransactionReceipt({ hash: await hash });
    expect(receipt.status).toBe('success');
    return receipt;
  };

  /** A fresh job creator contract whose escrow the owner funded with `pool` LP. */
  async function deployCreator(pool = LP(10), jobTimeout = TIMEOUT): Promise<Address> {
    const address = await deployOnChainJobCreator(owner, { deals: kit.deals, operator: bridgeKey.walletClient.account.address, priceLp: PRICE_LP, priceCoin: PRICE_COIN, jobTimeout });
    await mined(owner, owner.walletClient.writeContract({ address: kit.token, abi: lilypadTokenAbi, functionName: 'approve', args: [address, pool] }));
    await mined(owner, owner.walletClient.writeContract({ address, abi: lilypadOnChainJobCreatorAbi, functionName: 'fundEscrow', args: [pool] }));
    return address;
  }

  async function askCoinJob(creator: Address): Promise<bigint> {
    const receipt = await mined(user, user.walletClient.writeContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'runModuleWithDefaultMediators', args: ['cowsay:v0.0.1', 'Message=moo'], value: PRICE_COIN }));
    return parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: receipt.logs })[0]!.args.jobId;
  }

  async function askLpJob(creator: Address): Promise<bigint> {
    await mined(user, user.walletClient.writeContract({ address: kit.token, abi: lilypadTokenAbi, functionName: 'approve', args: [creator, PRICE_LP] }));
    const receipt = await mined(user, user.walletClient.writeContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'runJob', args: ['cowsay:v0.0.1', ['Message=moo'], userAddress] }));
    return parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: receipt.logs })[0]!.args.jobId;
  }

  /** What the bridge does: an offer for the job, signed by its key for the contract, bound to the job. */
  async function boundOffer(creator: Address, jobId: bigint): Promise<{ offer: SignedJobOfferTerms; signature: Hex; dealId: Hex }> {
    const offer = kit.jobOffer(creator);
    const signature = await kit.signJobOffer(bridgeKey, offer);
    const dealId = await kit.publicClient.readContract({ address: kit.deals, abi: lilypadDealsAbi, functionName: 'hashJobOffer', args: [offer] });
    await bindJobOffer(bridgeKey, { jobCreator: creator, jobId, dealId });
    return { offer, signature, dealId };
  }

  const agree = async (bound: { offer: SignedJobOfferTerms; signature: Hex }) => {
    const resourceOffer = kit.resourceOffer(provider.walletClient.account.address);
    // The bridge accepts the match for the contract, with the same key (ERC-1271).
    const matchAcceptance = await kit.signMatch(bridgeKey, bound.offer, resourceOffer);
    return agreeDeal(provider, { deals: kit.deals, jobOffer: bound.offer, jobCreatorSignature: bound.signature, resourceOffer, matchAcceptance });
  };

  const refund = (creator: Address, jobId: bigint, by: ChainClients = user) =>
    by.walletClient.writeContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refund', args: [jobId] });
  const jobOf = (creator: Address, jobId: bigint) => kit.publicClient.readContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [jobId] });

  it('refuses a refund while the job’s deal is open or has paid its provider, so the pool never pays twice', async () => {
    const creator = await deployCreator(LP(10), 60n);
    const jobId = await askLpJob(creator);
    const bound = await boundOffer(creator, jobId);
    const deal = await agree(bound);
    const price = LP(1);
    const ledger = async () => ({ wallet: await kit.tokenBalance(userAddress), pool: await kit.freeEscrow(creator) });
    const agreed = await ledger();
    expect(agreed.pool).toBe(LP(10) + PRICE_LP - price);

    // The client waits out the job timeout and asks for its money while the deal can still pay the provider.
    await kit.increaseTime(61);
    await expect(refund(creator, jobId)).rejects.toThrow(/DealStillOpen/);
    await submitResults(provider, { deals: kit.deals, dealId: deal.dealId, resultCid: 'bafyresult' });
    await expect(refund(creator, jobId)).rejects.toThrow(/DealStillOpen/);
    await kit.increaseTime(301);
    await settleResults(provider, { deals: kit.deals, settlements: [{ dealId: deal.dealId }] });
    // The provider has been paid from the pool: the results are the client's, not a refund.
    await expect(refund(creator, jobId)).rejects.toThrow(/JobHasResults/);
    expect(await ledger()).toEqual(agreed);
    expect(await kit.publicClient.readContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'lpOwed' })).toBe(PRICE_LP);

    await deliverJobResults(bridgeKey, { jobCreator: creator, jobId, dealId: deal.dealId, cid: 'bafyresult' });
    expect((await jobOf(creator, jobId)).state).toBe(2); // Completed
    expect(await kit.publicClient.readContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'lpOwed' })).toBe(0n);
  });

  it('a refund voids the job’s offer, a new offer voids the old one, and a failed deal is refunded at once', async () => {
    const creator = await deployCreator();
    // Refunded before any provider agreed: the offer can never be agreed afterwards.
    const jobId = await askLpJob(creator);
    const bound = await boundOffer(creator, jobId);
    await expect(refund(creator, jobId)).rejects.toThrow(/TooEarlyToRefund/);
    await kit.increaseTime(TIMEOUT);
    const before = { wallet: await kit.tokenBalance(userAddress), pool: await kit.freeEscrow(creator) };
    await mined(user, refund(creator, jobId));
    expect({ wallet: await kit.tokenBalance(userAddress), pool: await kit.freeEscrow(creator) }).toEqual({ wallet: before.wallet + PRICE_LP, pool: before.pool - PRICE_LP });
    await expect(agree(bound)).rejects.toThrow(/InvalidSignature/);
    expect(await kit.freeEscrow(creator)).toBe(before.pool - PRICE_LP);

    // Re-bound: the first offer is dead, the second agrees.
    const second = await askCoinJob(creator);
    const first = await boundOffer(creator, second);
    const replacement = await boundOffer(creator, second);
    await expect(agree(first)).rejects.toThrow(/InvalidSignature/);
    const deal = await agree(replacement);
    await expect(boundOffer(creator, second)).rejects.toThrow(/DealAlreadyAgreed/);
    // The provider never submits: once the deal timed out (price and collateral back to the pool), the client is refunded at once.
    await kit.increaseTime(601);
    const pool = await kit.freeEscrow(creator);
    await timeoutSubmitResults(provider, { deals: kit.deals, dealId: deal.dealId });
    expect(await kit.freeEscrow(creator)).toBe(pool + LP(1) + LP(2));
    const coin = await kit.publicClient.getBalance({ address: userAddress });
    const receipt = await mined(user, refund(creator, second));
    expect(await kit.publicClient.getBalance({ address: userAddress })).toBe(coin + PRICE_COIN - receipt.gasUsed * receipt.effectiveGasPrice);
  });

  it('fixes each job’s refund time when it is asked for; the owner cannot set a timeout that breaks refunds', async () => {
    const creator = await deployCreator(LP(10), 60n);
    const jobId = await askLpJob(creator);
    const job = await jobOf(creator, jobId);
    expect(job.refundableAt).toBe(job.requestedAt + 60n);
    const setTimeout_ = (timeout: bigint) =>
      owner.walletClient.writeContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'setPrices', args: [PRICE_LP, PRICE_COIN, timeout] });
    await expect(setTimeout_(2n ** 256n - 1n)).rejects.toThrow(/JobTimeoutTooLong/);
    await expect(setTimeout_(30n * 86400n + 1n)).rejects.toThrow(/JobTimeoutTooLong/);
    await mined(owner, setTimeout_(30n * 86400n));
    // The job keeps the timeout it was asked with.
    await kit.increaseTime(61);
    const wallet = await kit.tokenBalance(userAddress);
    await mined(user, refund(creator, jobId));
    expect(await kit.tokenBalance(userAddress)).toBe(wallet + PRICE_LP);
    expect((await jobOf(creator, await askLpJob(creator))).refundableAt).toBeGreaterThan(job.requestedAt + 30n * 86400n);
  });

  it('the owner takes only surplus coin and LP, never what clients may get back', async () => {
    const creator = await deployCreator(LP(10));
    const [a, b] = [await askCoinJob(creator), await askCoinJob(creator)];
    const lpJob = await askLpJob(creator);
    const to = privateKeyToAccount(generatePrivateKey()).address;
    const withdrawCoin = (amount: bigint) => owner.walletClient.writeContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'withdrawCoin', args: [to, amount] });
    const withdrawLp = (amount: bigint, by: ChainClients = owner) => by.walletClient.writeContract({ address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'withdrawLp', args: [to, amount] });
    await expect(withdrawCoin(1n)).rejects.toThrow(/ExceedsSurplus/);
    // The pool's own LP (10) is surplus; the LP job's 2 are not.
    await expect(withdrawLp(LP(10) + 1n)).rejects.toThrow(/ExceedsSurplus/);
    await expect(withdrawLp(1n, user)).rejects.toThrow(/OwnableUnauthorizedAccount/);

    // Job a runs and is delivered: its coin is the pool's now.
    const bound = await boundOffer(creator, a);
    const deal = await agree(bound);
    await submitResults(provider, { deals: kit.deals, dealId: deal.dealId, resultCid: 'bafyresult' });
    await deliverJobResults(bridgeKey, { jobCreator: creator, jobId: a, dealId: deal.dealId, cid: 'bafyresult' });
    await expect(withdrawCoin(PRICE_COIN + 1n)).rejects.toThrow(/ExceedsSurplus/);
    await mined(owner, withdrawCoin(PRICE_COIN));
    expect(await kit.publicClient.getBalance({ address: to })).toBe(PRICE_COIN);
    // The deal's price (1 LP) left the pool: 9 LP of it are surplus.
    await expect(withdrawLp(LP(9) + 1n)).rejects.toThrow(/ExceedsSurplus/);
    await mined(owner, withdrawLp(LP(9)));
    expect(await kit.tokenBalance(to)).toBe(LP(9));
    expect(await kit.freeEscrow(creator)).toBe(PRICE_LP);

    // What the clients were owed is all still there.
    await kit.increaseTime(TIMEOUT);
    const coin = await kit.publicClient.getBalance({ address: userAddress });
    const wallet = await kit.tokenBalance(userAddress);
    const gas = [await mined(user, refund(creator, b)), await mined(user, refund(creator, lpJob))].reduce((sum, r) => sum + r.gasUsed * r.effectiveGasPrice, 0n);
    expect(await kit.publicClient.getBalance({ address: userAddress })).toBe(coin + PRICE_COIN - gas);
    expect(await kit.tokenBalance(userAddress)).toBe(wallet + PRICE_LP);
    expect(await kit.freeEscrow(creator)).toBe(0n);
  });

  it('gives a client’s callback a fixed allowance of gas: a client that burns gas cannot block delivery or cost the bridge more', async () => {
    const creator = await deployCreator();
    // A client contract whose constructor asks for the job and whose code then loops forever when called
    // (its inner call's failure would not revert the creation, so the gas is given, not estimated).
    const ask = encodeFunctionData({ abi: lilypadOnChainJobCreatorAbi, functionName: 'runModuleWithDefaultMediators', args: ['cowsay:v0.0.1', 'Message=moo'] });
    const runtime = '0x5b600056' as Hex; // JUMPDEST PUSH1 0 JUMP
    const u16 = (n: number) => numberToHex(n, { size: 2 });
    const header = 56;
    const init = concatHex([
      '0x61', u16(size(ask)), '0x61', u16(header + 4), '0x600039', // CODECOPY the call data to memory 0
      '0x6000600061', u16(size(ask)), '0x600034', '0x73', creator, '0x5af150', // CALL(gas, creator, callvalue, 0, len, 0, 0); POP
      '0x600461', u16(header), '0x600039', '0x60046000f3', // return the runtime
      runtime,
      ask,
    ]);
    const deployed = await mined(user, user.walletClient.sendTransaction({ data: init, value: PRICE_COIN, gas: 3_000_000n }));
    const [added] = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', logs: deployed.logs });
    expect(getAddress(added!.args.client)).toBe(getAddress(deployed.contractAddress!));
    const jobId = added!.args.jobId;
    const bound = await boundOffer(creator, jobId);
    const deal = await agree(bound);
    await submitResults(provider, { deals: kit.deals, dealId: deal.dealId, resultCid: 'bafyresult' });

    const delivery = { address: creator, abi: lilypadOnChainJobCreatorAbi, functionName: 'deliverResults', args: [jobId, deal.dealId, 'bafyresult'] } as const;
    // Too little gas for the callback's allowance is refused, so the bridge cannot starve a client either.
    await expect(kit.publicClient.simulateContract({ ...delivery, account: bridgeKey.walletClient.account, gas: 200_000n })).rejects.toThrow(/NotEnoughGasForCallback/);
    // With 5M gas offered, the callback burns only its allowance, and the job is completed.
    const receipt = await mined(bridgeKey, bridgeKey.walletClient.writeContract({ ...delivery, gas: 5_000_000n }));
    expect(receipt.gasUsed).toBeLessThan(300_000n);
    expect(parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobCompleted', logs: receipt.logs })[0]!.args.delivered).toBe(false);
    expect((await jobOf(creator, jobId)).state).toBe(2);
  });
});
