/**
 * Results kept for the stated time, end to end on the embedded network (real anvil, solver and deal
 * contract): a provider in this process that keeps results for an hour runs a job, is paid, and after its
 * clock has moved past the hour sweeps the result away; the job creator asking again is told until when it
 * was kept, and still has its own copy of what it downloaded.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CID } from 'multiformats/cid';
import { parseEther, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, fund } from '../src/chain/index.js';
import { createWasmExecutor } from '../src/executor/wasm/index.js';
import { followJob, runJob } from '../src/job-creator/run-job.js';
import type { JobOffer } from '../src/protocol/offers.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { createResourceProvider } from '../src/resource-provider/resource-provider.js';
import { createSolverClient } from '../src/solver/client.js';
import { closeBlockstore, exportDirectory, fetchDag, openBlockstore } from '../src/storage/index.js';
import { storedDeal } from './helpers.js';

let network: EmbeddedNetwork;
let dir: string;

beforeAll(async () => {
  network = await startEmbeddedNetwork();
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-results-kept-'));
}, 60_000);

afterAll(async () => {
  await network?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a result kept for an hour after its deal ended', () => {
  it('is served until then, swept after, and the job creator is told until when; its own download stays', async () => {
    const providerKey = generatePrivateKey();
    const deployer = await connectChain({ rpcUrl: network.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: network.chainId });
    await fund({ walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...network.contracts, to: privateKeyToAccount(providerKey).address, eth: parseEther('1'), escrow: parseEther('100') });

    let now = Date.now();
    const executor = createWasmExecutor();
    const blockstore = await openBlockstore(path.join(dir, 'provider-blocks'));
    const dataDir = path.join(dir, 'provider');
    const provider = createResourceProvider(
      // Cheaper than the network's own provider, so the job comes here.
      { price: parseEther('0.05'), collateralMultiple: 2n, capacity: 1, machine: { cpu: 4000, gpu: 0, ram: 4096 }, modules: [], mediators: network.mediators, dataDir, resultsKeptFor: 3600 },
      {
        chain: await connectChain({ rpcUrl: network.rpcUrl, privateKey: providerKey, chainId: network.chainId }),
        domain: network.domain,
        solver: createSolverClient(network.solverUrl),
        executors: [executor],
        modules: network.modules,
        blockstore,
        now: () => now,
      },
    );
    await provider.start();
    const jobBlocks = await openBlockstore(path.join(dir, 'job-creator-blocks'));
    try {
      const person = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      let offer: JobOffer | undefined;
      const options = { module: 'cowsay:v0.0.1', inputs: { Message: 'kept' }, maxPrice: parseEther('0.06'), mediators: network.mediators, resultsDir: path.join(dir, 'results') };
      const components = { chain: person, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore: jobBlocks };
      const result = await runJob({ ...options, onOffer: async (signed) => void (offer = signed) }, components);
      await provider.idle();
      await provider.settleNow();
      const deal = storedDeal(dataDir, result.dealId as Hex);
      expect(deal).toMatchObject({ stage: 'done', resultCid: result.cid });
      const resultsUrl = deal!.deal.resourceOffer.details.resultsUrl;
      expect(deal!.deal.resourceOffer.details.resultsKeptSeconds).toBe(3600);

      // Within the hour: kept, however often it sweeps.
      now += 59 * 60_000;
      await provider.sweepNow();
      const again = await openBlockstore(path.join(dir, 'second-download'));
      await fetchDag(CID.parse(result.cid), { gatewayUrl: resultsUrl, blockstore: again });

      // Past the hour: gone, and the provider says until when it kept it.
      now += 2 * 60_000;
      const swept = await provider.sweepNow();
      expect(swept.removed).toBeGreaterThan(0);
      const until = new Date(deal!.endedAt! + 3_600_000).toISOString();
      const third = await openBlockstore(path.join(dir, 'third-download'));
      await expect(fetchDag(CID.parse(result.cid), { gatewayUrl: resultsUrl, blockstore: third })).rejects.toThrow(`the provider kept this result until ${until}`);
      await closeBlockstore(third);
      await closeBlockstore(again);
      // Followed again from another machine (`lilypad get ID` without the blocks): told so, nothing challenged.
      const elsewhere = await openBlockstore(path.join(dir, 'elsewhere-blocks'));
      await expect(followJob(offer!, { ...options, resultsDir: path.join(dir, 'elsewhere') }, { ...components, blockstore: elsewhere })).rejects.toThrow(
        `the provider kept this result until ${until}; it is no longer held here; nothing was challenged. Fetching it again will not help: this provider no longer holds it`,
      );
      await closeBlockstore(elsewhere);

      // The job creator keeps what it downloaded: its folder and its blocks.
      expect(await readFile(path.join(result.dir, 'stdout'), 'utf8')).toContain('< kept >');
      await exportDirectory(CID.parse(result.cid), jobBlocks, path.join(dir, 'from-own-blocks'));
      expect(await readFile(path.join(dir, 'from-own-blocks', 'stdout'), 'utf8')).toContain('< kept >');
    } finally {
      await provider.stop();
      await closeBlockstore(jobBlocks);
      await closeBlockstore(blockstore);
      await executor.close();
    }
  }, 120_000);
});
