/**
 * The embedded network: with nothing configured, `lilypad run` starts a whole network for one job, in
 * one process, on loopback: a local chain (anvil) with the contracts, a solver, a resource provider
 * and a mediator, with their accounts funded by the faucet, the provider and the mediator each with an IPFS
 * node on loopback (a job's inputs come from the job creator's node, named in its offer). `stop()` tears all
 * of it down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, deployContracts, fund, startAnvil, type AnvilInstance } from '../chain/index.js';
import { closeExecutors, gpuDevicesOf, localExecutors } from '../executor/local.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import type { ModuleResolver } from '../module/resolve.js';
import type { ModuleLocations } from '../module/git.js';
import { ANY_MODULE_SOURCE } from '../module/sources.js';
import type { ReadDeal } from '../protocol/deals.js';
import type { OfferDomain } from '../protocol/offers.js';
import { detectMachine } from './machine.js';
import { chainReadDeal } from './read-deal.js';
import { startRoles, type RunningRoles } from './wiring.js';
import { stopStep } from '../lib/stop-steps.js';

export interface EmbeddedNetworkOptions {
  logger?: Logger;
  /** A folder for the network's files; a fresh temporary one (removed on stop) by default. */
  dataDir?: string;
  /** Where the roles cache modules and look up `NAME:TAG` (the user's settings); the defaults when left out. */
  moduleLocations?: ModuleLocations;
}

export interface EmbeddedNetwork {
  rpcUrl: string;
  chainId: number;
  contracts: { token: Address; deals: Address };
  solverUrl: string;
  mediators: Address[];
  /** The one resource provider's account. */
  resourceProvider: Address;
  /** A funded job creator: LP in escrow for payment, a little ETH to accept results. */
  jobCreatorPrivateKey: Hex;
  domain: OfferDomain;
  readDeal: ReadDeal;
  modules: ModuleResolver;
  dataDir: string;
  anvilPid: number;
  stop(): Promise<void>;
}

export const EMBEDDED_JOB_PRICE = parseEther('1');

export async function startEmbeddedNetwork(options: EmbeddedNetworkOptions = {}): Promise<EmbeddedNetwork> {
  const logger = options.logger ?? silentLogger;
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'lilypad-network-')));
  // This machine as its one provider offers it: a GPU module runs here when the machine has the cards.
  const machine = detectMachine();
  // Asked of the Docker engine now, answered while anvil starts.
  const executors = localExecutors({ owner: `lilypad-embedded-${process.pid}`, gpuDevices: gpuDevicesOf(machine.gpu) });
  let roles: RunningRoles | undefined;
  let anvil: AnvilInstance | undefined;
  const stop = async () => {
    const warn = (error: unknown) => logger.warn({ err: error }, 'clean-up failed');
    // The roles' stop closes the executors first: that ends a job still running (a stop signal mid-job).
    if (roles) await roles.stop().catch(warn);
    else await executors.then(closeExecutors).catch(warn);
    roles = undefined;
    if (anvil) await stopStep('anvil', () => anvil!.stop()).catch(warn);
    anvil = undefined;
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    anvil = await startAnvil();
    const deployer = await connectChain({ rpcUrl: anvil.rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: anvil.chainId });
    const contracts = await deployContracts(deployer.walletClient, deployer.publicClient);
    const domain: OfferDomain = { chainId: anvil.chainId, dealsAddress: contracts.deals };

    const jobCreatorPrivateKey = generatePrivateKey();
    const providerPrivateKey = generatePrivateKey();
    const mediatorPrivateKey = generatePrivateKey();
    const mediatorAddress = privateKeyToAccount(mediatorPrivateKey).address;
    const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...contracts };
    // Play money on a chain of its own: enough that a long-lived job creator (the studio runs for days on one
    // embedded network) never runs its escrow dry at 1 LP a job.
    await fund({ ...faucet, to: privateKeyToAccount(jobCreatorPrivateKey).address, eth: parseEther('10'), escrow: parseEther('1000000') });
    await fund({ ...faucet, to: privateKeyToAccount(providerPrivateKey).address, eth: parseEther('1'), escrow: parseEther('100') });
    await fund({ ...faucet, to: mediatorAddress, eth: parseEther('1') });

    roles = await startRoles(
      {
        // Every role here is the user's own, so it fetches what the user's CLI may: ./folders, file:// repositories.
        moduleSources: ANY_MODULE_SOURCE,
        moduleLocations: options.moduleLocations,
        executorOwner: `lilypad-embedded-${process.pid}`,
        solver: {},
        mediator: { privateKey: mediatorPrivateKey, dataDir: path.join(dataDir, 'mediator') },
        resourceProvider: {
          privateKey: providerPrivateKey,
          price: EMBEDDED_JOB_PRICE,
          collateralMultiple: 2n,
          capacity: 16,
          machine,
          modules: [],
          mediators: [mediatorAddress],
          dataDir: path.join(dataDir, 'resource-provider'),
        },
      },
      { chain: { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, dealsAddress: contracts.deals }, executors, logger },
    );

    return {
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      contracts,
      solverUrl: roles.solver!.url,
      mediators: [mediatorAddress],
      resourceProvider: roles.resourceProvider!.address,
      jobCreatorPrivateKey,
      domain,
      readDeal: chainReadDeal(deployer.publicClient, contracts.deals),
      modules: roles.modules,
      dataDir,
      anvilPid: anvil.pid,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
