/**
 * The embedded network: with nothing configured, `lilypad run` starts a whole network for one job, in
 * one process, on loopback: a local chain (anvil) with the contracts, a solver, a resource provider
 * and a mediator, with their accounts funded by the faucet. `stop()` tears all of it down.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  connectChain,
  deployContracts,
  fund,
  startAnvil,
  type AnvilInstance,
  type ChainClients,
} from '../chain/index.js';
import { dockerExecutorIfAvailable } from '../executor/docker/index.js';
import { createWasmExecutor } from '../executor/wasm/index.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { createMediator } from '../mediator/mediator.js';
import { createModuleResolver, type ModuleResolver } from '../module/resolve.js';
import { ANY_MODULE_SOURCE } from '../module/sources.js';
import type { ReadDeal } from '../protocol/deals.js';
import type { OfferDomain } from '../protocol/offers.js';
import { createResourceProvider } from '../resource-provider/resource-provider.js';
import { createSolverClient } from '../solver/client.js';
import { createSolver } from '../solver/solver.js';
import { chainFreeEscrow } from '../solver/standing.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';
import { chainReadDeal } from './read-deal.js';

export interface EmbeddedNetworkOptions {
  logger?: Logger;
  /** A folder for the network's files; a fresh temporary one (removed on stop) by default. */
  dataDir?: string;
}

export interface EmbeddedNetwork {
  rpcUrl: string;
  chainId: number;
  contracts: { token: Address; deals: Address };
  solverUrl: string;
  mediators: Address[];
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
  const cleanups: Array<() => Promise<unknown>> = [];
  // The executors close first: that ends any job still running (a stop signal mid-job), which the provider
  // would otherwise wait for; then the roles stop in reverse order of start, the chain last.
  const executorCloses: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const close of executorCloses.splice(0)) await close().catch((error) => logger.warn({ err: error }, 'clean-up failed'));
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => logger.warn({ err: error }, 'clean-up failed'));
    cleanups.length = 0;
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
  };

  try {
    // Docker joins when an engine answers (DOCKER_HOST or the default socket); asked now, answered meanwhile.
    const dockerReady = dockerExecutorIfAvailable({ owner: `lilypad-embedded-${process.pid}` }).catch(() => undefined);
    const anvil: AnvilInstance = await startAnvil();
    cleanups.push(() => anvil.stop());
    const connect = (privateKey: Hex): Promise<ChainClients & { chainId: number }> =>
      connectChain({ rpcUrl: anvil.rpcUrl, privateKey, chainId: anvil.chainId });

    const deployer = await connect(ANVIL_DEV_PRIVATE_KEYS[0]);
    const contracts = await deployContracts(deployer.walletClient, deployer.publicClient);
    const domain: OfferDomain = { chainId: anvil.chainId, dealsAddress: contracts.deals };
    const readDeal = chainReadDeal(deployer.publicClient, contracts.deals);

    const jobCreatorPrivateKey = generatePrivateKey();
    const providerPrivateKey = generatePrivateKey();
    const mediatorPrivateKey = generatePrivateKey();
    const mediatorAddress = privateKeyToAccount(mediatorPrivateKey).address;
    const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...contracts };
    await fund({ ...faucet, to: privateKeyToAccount(jobCreatorPrivateKey).address, eth: parseEther('1'), escrow: parseEther('100') });
    await fund({ ...faucet, to: privateKeyToAccount(providerPrivateKey).address, eth: parseEther('1'), escrow: parseEther('100') });
    await fund({ ...faucet, to: mediatorAddress, eth: parseEther('1') });

    const solver = createSolver({}, { domain, readDeal, freeEscrow: chainFreeEscrow(deployer.publicClient, contracts.deals), signatureVerifier: deployer.publicClient, logger: logger.child({ role: 'solver' }) });
    await solver.start();
    cleanups.push(() => solver.stop());


    // Every role here is the user's own, so it fetches what the user's CLI may: ./folders, file:// repositories.
    const modules = createModuleResolver({ sources: ANY_MODULE_SOURCE });
    const providerBlockstore = await openBlockstore(path.join(dataDir, 'resource-provider', 'blocks'));
    cleanups.push(() => closeBlockstore(providerBlockstore));
    const executor = createWasmExecutor();
    executorCloses.push(() => executor.close());
    const dockerExecutor = await dockerReady;
    if (dockerExecutor) executorCloses.push(() => dockerExecutor.close());
    const mediator = createMediator(
      { dataDir: path.join(dataDir, 'mediator') },
      {
        chain: await connect(mediatorPrivateKey),
        domain,
        solver: createSolverClient(solver.url),
        executors: dockerExecutor ? [executor, dockerExecutor] : [executor],
        modules,
        logger: logger.child({ role: 'mediator' }),
      },
    );
    await mediator.start();
    cleanups.push(() => mediator.stop());
    const provider = createResourceProvider(
      {
        price: EMBEDDED_JOB_PRICE,
        collateralMultiple: 2n,
        capacity: 16,
        machine: { cpu: os.availableParallelism() * 1000, gpu: 0, ram: Math.floor(os.totalmem() / 1024 / 1024) },
        modules: [],
        mediators: [mediatorAddress],
        dataDir: path.join(dataDir, 'resource-provider'),
      },
      {
        chain: await connect(providerPrivateKey),
        domain,
        solver: createSolverClient(solver.url),
        executors: dockerExecutor ? [executor, dockerExecutor] : [executor],
        modules,
        blockstore: providerBlockstore,
        logger: logger.child({ role: 'resource-provider' }),
      },
    );
    await provider.start();
    cleanups.push(() => provider.stop());

    return {
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      contracts,
      solverUrl: solver.url,
      mediators: [mediatorAddress],
      jobCreatorPrivateKey,
      domain,
      readDeal,
      modules,
      dataDir,
      anvilPid: anvil.pid,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
