/**
 * What a resource provider's offer carries, and how it hears of its deals. A provider that is down when a
 * job arrives is not matched (it would not hear of the deal); when it comes back within the solver's grace
 * and subscribes again, the waiting job is matched to it and it runs it. A provider's refused modules are in its signed
 * offer, so the solver never matches them to it. Embedded network on 127.0.0.1, plus providers in this
 * process that are cheaper than the network's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getAddress, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, escrowBalance, fund } from '../src/chain/index.js';
import { createWasmExecutor } from '../src/executor/wasm/index.js';
import { postJob, runJob, signJobOffer } from '../src/job-creator/run-job.js';
import { offerDomain, offerTypes } from '../src/protocol/eip712.js';
import { jobOfferDetailsHashOf, matchAcceptanceTypedData, resourceOfferId } from '../src/protocol/offers.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import type { Executor } from '../src/executor/types.js';
import type { Logger } from '../src/lib/logger.js';
import { createResourceProvider, type ResourceProvider, type ResourceProviderConfig } from '../src/resource-provider/resource-provider.js';
import { createSolverClient } from '../src/solver/client.js';
import { closeBlockstore, openBlockstore, type Blockstore } from '../src/storage/index.js';

let network: EmbeddedNetwork;
let dir: string;

beforeAll(async () => {
  network = await startEmbeddedNetwork();
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-late-provider-'));
}, 60_000);

/** A fresh provider key with ETH for gas and 100 LP in escrow. */
async function fundedProvider(): Promise<{ providerKey: Hex; providerAddress: Address }> {
  const providerKey = generatePrivateKey();
  const providerAddress = privateKeyToAccount(providerKey).address;
  const deployer = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: network.chainId });
  await fund({ walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...network.contracts, to: providerAddress, eth: parseEther('1'), escrow: parseEther('100') });
  return { providerKey, providerAddress };
}

/** A provider in this process on the embedded network, cheaper than the network's (0.1 LP), not started. */
async function testProvider(
  parts: { providerKey: Hex; executor: Executor; blockstore: Blockstore; logger?: Logger },
  config: Partial<ResourceProviderConfig> & { dataDir: string },
): Promise<ResourceProvider> {
  return createResourceProvider(
    { price: parseEther('0.1'), collateralMultiple: 2n, capacity: 2, machine: { cpu: 4000, gpu: 0, ram: 4096 }, modules: [], mediators: network.mediators, ...config },
    {
      chain: await connectChain({ rpcUrl: network.rpcUrl, privateKey: parts.providerKey, chainId: network.chainId }),
      domain: network.domain,
      solver: createSolverClient(network.solverUrl),
      executors: [parts.executor],
      modules: network.modules,
      blockstore: parts.blockstore,
      logger: parts.logger,
    },
  );
}

afterAll(async () => {
  await network?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

// First: the provider that comes back late leaves a cheap offer behind, which would take the job below.
describe('a provider that refuses a module', () => {
  it('says so in its signed offer, and the solver does not match the module to it', async () => {
    const { providerKey, providerAddress } = await fundedProvider();
    const executor = createWasmExecutor();
    const blockstore = await openBlockstore(path.join(dir, 'refusing-blocks'));
    const provider = await testProvider({ providerKey, executor, blockstore }, { refuseModules: ['cowsay:v0.0.1'], dataDir: path.join(dir, 'refusing') });
    await provider.start();
    const jobBlocks = await openBlockstore(path.join(dir, 'refused-job-blocks'));
    try {
      const person = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      const components = { chain: person, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore: jobBlocks };
      const options = { module: 'cowsay:v0.0.1', mediators: network.mediators, resultsDir: path.join(dir, 'refused-results') };
      // Only the refusing provider is cheap enough: the job waits, and the reason says why.
      const waiting = await postJob({ ...options, inputs: { Message: 'cheap' }, maxPrice: parseEther('0.2') }, components);
      expect(waiting.state).toBe('pending');
      expect(waiting.reason).toContain('1 offer refuses this module');
      // With room for the network's provider, the job goes there, not to the cheaper one that refuses it.
      const result = await runJob({ ...options, inputs: { Message: 'refused' }, maxPrice: parseEther('10') }, components);
      expect(getAddress(result.resourceProvider)).not.toBe(getAddress(providerAddress));
      expect(result.stdout).toContain('< refused >');
    } finally {
      await provider.stop();
      await closeBlockstore(jobBlocks);
      await closeBlockstore(blockstore);
      await executor.close();
    }
  }, 60_000);
});

describe('a provider that was down when a job arrived', () => {
  it('is not matched while it is away, and gets the waiting job when it subscribes again', async () => {
    const { providerKey, providerAddress } = await fundedProvider();

    const executor = createWasmExecutor();
    const blockstore = await openBlockstore(path.join(dir, 'provider-blocks'));
    const startProvider = async () => {
      const provider = await testProvider({ providerKey, executor, blockstore }, { price: parseEther('0.5'), dataDir: path.join(dir, 'provider') });
      await provider.start();
      return provider;
    };
    try {
      // It posts its offer and goes away (its offer stays at the solver for the grace, as after a crash).
      await (await startProvider()).stop();

      const jobBlocks = await openBlockstore(path.join(dir, 'job-blocks'));
      let jobOfferId: Hex | undefined;
      const person = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      const job = runJob(
        {
          module: 'cowsay:v0.0.1',
          inputs: { Message: 'late' },
          // Below the network's own provider's price: only the absent provider's offer fits.
          maxPrice: parseEther('0.75'),
          mediators: network.mediators,
          resultsDir: path.join(dir, 'results'),
          onOffer: (_offer, id) => void (jobOfferId = id),
        },
        { chain: person, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore: jobBlocks },
      );
      job.catch(() => undefined);
      // Not matched to the absent provider's offer: it waits, and says why.
      await expect
        .poll(async () => (jobOfferId ? ((await (await fetch(`${network.solverUrl}/api/v1/job-offers/${jobOfferId}`)).json()) as { reason?: string }).reason : undefined), { timeout: 10_000 })
        .toMatch(/1 offer's provider is not connected/);

      const back = await startProvider();
      try {
        const result = await job;
        expect(getAddress(result.resourceProvider)).toBe(getAddress(providerAddress));
        expect(result.stdout).toContain('< late >');
      } finally {
        await back.stop();
        await closeBlockstore(jobBlocks);
      }
    } finally {
      await closeBlockstore(blockstore);
      await executor.close();
    }
  }, 60_000);
});

describe('a provider whose allowlist names one module', () => {
  it('refuses a job offer that signs that name over another module, and locks nothing', async () => {
    const { providerKey, providerAddress } = await fundedProvider();
    const executor = createWasmExecutor();
    const blockstore = await openBlockstore(path.join(dir, 'allowlist-blocks'));
    const refusals: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void refusals.push(line) });
    const provider = await testProvider({ providerKey, executor, blockstore, logger }, { modules: ['cowsay:v0.0.1'], dataDir: path.join(dir, 'allowlist') });
    await provider.start();
    try {
      const person = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      const solver = createSolverClient(network.solverUrl);
      const escrowBefore = (await escrowBalance(person.publicClient, { deals: network.domain.dealsAddress, account: providerAddress })).free;
      // The spin module under the allowed name: the name is signed, but it is only the job creator's word.
      const { offer } = await signJobOffer(
        { module: 'spin:v0.0.1', inputs: { Rounds: '1' }, maxPrice: parseEther('0.2'), mediators: network.mediators, resultsDir: dir },
        { chain: person, domain: network.domain, modules: network.modules },
      );
      const disguised = { ...offer, moduleName: 'cowsay:v0.0.1' };
      const terms = { ...offer.terms, detailsHash: jobOfferDetailsHashOf(disguised) };
      const signature = await person.walletClient.signTypedData({ domain: offerDomain(network.chainId, network.domain.dealsAddress), types: offerTypes, primaryType: 'JobOffer', message: terms });
      const posted = await solver.postJobOffer({ ...disguised, terms, signature });
      expect(posted.state).toBe('matched');
      if (posted.state === 'pending') return;
      expect(getAddress(posted.deal.resourceOffer.terms.resourceProvider)).toBe(getAddress(providerAddress));
      const resourceOffer = resourceOfferId(network.domain, posted.deal.resourceOffer.terms);
      await solver.acceptMatch(posted.deal.dealId, await person.walletClient.signTypedData(matchAcceptanceTypedData(network.domain, posted.deal.dealId, resourceOffer)));

      await expect.poll(() => refusals.some((line) => line.includes('is not in this provider') && line.includes(posted.deal.dealId)), { timeout: 20_000 }).toBe(true);
      expect((await network.readDeal(posted.deal.dealId)).state).toBe('none');
      expect((await escrowBalance(person.publicClient, { deals: network.domain.dealsAddress, account: providerAddress })).free).toBe(escrowBefore);
    } finally {
      await provider.stop();
      await closeBlockstore(blockstore);
      await executor.close();
    }
  }, 60_000);
});

describe('a job creator that never accepts its match', () => {
  it('holds the provider’s capacity only for a while: the deal is given up and the next job runs there', async () => {
    const { providerKey, providerAddress } = await fundedProvider();
    const executor = createWasmExecutor();
    const blockstore = await openBlockstore(path.join(dir, 'unaccepted-blocks'));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const provider = await testProvider({ providerKey, executor, blockstore, logger }, { capacity: 1, dataDir: path.join(dir, 'unaccepted'), matchAcceptanceWaitMs: 1000 });
    await provider.start();
    const jobBlocks = await openBlockstore(path.join(dir, 'unaccepted-job-blocks'));
    try {
      const person = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      const components = { chain: person, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore: jobBlocks };
      const options = { module: 'cowsay:v0.0.1', mediators: network.mediators, maxPrice: parseEther('0.2'), resultsDir: path.join(dir, 'unaccepted-results') };
      // Posted straight to the solver and never accepted: the provider's one slot is taken by the match.
      const { offer } = await signJobOffer({ ...options, inputs: { Message: 'never accepted' } }, components);
      const posted = await components.solver.postJobOffer(offer);
      expect(posted.state).toBe('matched');
      if (posted.state === 'pending') return;
      expect(getAddress(posted.deal.resourceOffer.terms.resourceProvider)).toBe(getAddress(providerAddress));
      await expect.poll(() => lines.some((line) => line.includes('did not accept the match within 1 s')), { timeout: 20_000 }).toBe(true);
      expect((await network.readDeal(posted.deal.dealId)).state).toBe('none');
      // The slot is free again: the next job, which only this provider is cheap enough for, runs there.
      const result = await runJob({ ...options, inputs: { Message: 'next' } }, components);
      expect(getAddress(result.resourceProvider)).toBe(getAddress(providerAddress));
      expect(result.stdout).toContain('< next >');
    } finally {
      await provider.stop();
      await closeBlockstore(jobBlocks);
      await closeBlockstore(blockstore);
      await executor.close();
    }
  }, 60_000);
});
