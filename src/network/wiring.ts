/**
 * The one wiring of the roles. `startRoles(config, pieces)` starts the roles that a configuration names (a
 * solver, a mediator, a resource provider, the on-chain job creator's bridge) on one chain, with one module
 * resolver and this machine's executors. The embedded network starts three of them in one process; each
 * `lilypad solver|mediator|resource-provider|jobcreator` process starts one. Whatever differs between the
 * two is a value of the configuration (where modules may come from, ports, folders), never a second wiring.
 */
import os from 'node:os';
import path from 'node:path';
import type { Address, Hex } from 'viem';
import { createBridge, type BridgeConfig } from '../bridge/bridge.js';
import { connectChain, createLilypadPublicClient, fetchChainId } from '../chain/index.js';
import { closeExecutors, gpuDevicesOf, localExecutors } from '../executor/local.js';
import type { Executor } from '../executor/types.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { createMediator, type MediatorConfig } from '../mediator/mediator.js';
import { jobInputStore } from '../module/builtin-data.js';
import type { ModuleLocations } from '../module/git.js';
import { createModuleResolver, type ModuleResolver } from '../module/resolve.js';
import { DEFAULT_SERVICE_MODULE_SOURCES, type ModuleSources } from '../module/sources.js';
import { createResourceProvider, type ResourceProviderConfig } from '../resource-provider/resource-provider.js';
import { createSolverClient } from '../solver/client.js';
import { createSolver, type SolverConfig } from '../solver/solver.js';
import { chainFreeEscrow } from '../solver/standing.js';
import { closeBlockstore, openBlockstore, SweepableBlockstore, type Blockstore } from '../storage/index.js';
import { createIpfsNode, loopbackOnly, type IpfsNode } from '../storage/ipfs-node.js';
import { chainReadDeal } from './read-deal.js';
import { stopStep } from '../lib/stop-steps.js';

/** Settings every provider gets unless its configuration says otherwise. */
export const PROVIDER_DEFAULTS = {
  // Acceptances arriving within this long share one settlement transaction.
  settleDelayMs: 200,
} satisfies Partial<ResourceProviderConfig>;

export type ProviderRoleConfig = ResourceProviderConfig & { privateKey: Hex };
export type MediatorRoleConfig = Omit<MediatorConfig, 'dataDir'> & {
  privateKey: Hex;
  /** Default: a folder of its own under the system's temporary folder. */
  dataDir?: string;
};
export type BridgeRoleConfig = Omit<BridgeConfig, 'resultsDir'> & {
  /** The key of the on-chain job creator's operator. */
  privateKey: Hex;
  /** Results under `results/`, blocks under `blocks/`. */
  dataDir: string;
};

export interface RolesConfig {
  /**
   * Where the modules that offers name may be fetched from (see src/module/sources.ts); left out or empty:
   * public https hosts only, as befits roles that run strangers' jobs.
   */
  moduleSources?: ModuleSources;
  /** Where modules are cached and `NAME:TAG` looked up; `<tmp>/lilypad/modules` and the default org when left out. */
  moduleLocations?: ModuleLocations;
  /**
   * Trustless HTTP gateways that the provider and the mediator fetch jobs' inputs by CID from, in order, each
   * block checked against its CID, after the IPFS peers that the job offer names. No gateway and no IPFS
   * node: a job with inputs is refused before it is agreed.
   */
  inputGateways?: string[];
  /**
   * The IPFS node that each role holding or needing data (provider, mediator, bridge) runs over its
   * blockstore: where it listens (default one TCP port on 127.0.0.1, and then it dials only loopback
   * peers), and peers it always dials besides those offers name. `false`: no node; inputs come from the
   * gateways alone, results from the provider's gateway.
   */
  ipfs?: { listen?: string[]; peers?: string[] } | false;
  /** Owner label of this process's Docker containers (see DockerExecutorOptions.owner). */
  executorOwner: string;
  /** The solver of roles started without one here. */
  solverUrl?: string;
  solver?: SolverConfig;
  mediator?: MediatorRoleConfig;
  resourceProvider?: ProviderRoleConfig;
  bridge?: BridgeRoleConfig;
}

export interface RolesPieces {
  chain: { rpcUrl: string; dealsAddress: Address; chainId?: number };
  /** The executors to run jobs on, closed by `stop()`; default this machine's (`localExecutors`). */
  executors?: Promise<Executor[]>;
  logger?: Logger;
}

/** A started role: its HTTP address where it serves one, its account where it signs. */
export interface RunningService {
  url?: string;
  address?: Address;
  stop(): Promise<void>;
}

export interface RunningRoles {
  chainId: number;
  modules: ModuleResolver;
  solver?: RunningService & { url: string };
  mediator?: RunningService & { address: Address };
  resourceProvider?: RunningService & { address: Address };
  bridge?: RunningService & { address: Address };
  /** Ends running jobs first (the executors), then the roles in reverse order of start. */
  stop(): Promise<void>;
}

export async function startRoles(config: RolesConfig, pieces: RolesPieces): Promise<RunningRoles> {
  const logger = pieces.logger ?? silentLogger;
  const { rpcUrl, dealsAddress } = pieces.chain;
  const cleanups: Array<{ name: string; cleanup: () => Promise<unknown> }> = [];
  // The bridge re-runs jobs on executors of its own (runCheckedJob), made only while it checks one.
  const runsJobs = config.mediator !== undefined || config.resourceProvider !== undefined;
  // The provider's GPUs are handed out card by card to its jobs (and to the mediator's re-runs beside it).
  const gpuDevices = gpuDevicesOf(config.resourceProvider?.machine.gpu ?? 0);
  const executorsReady = pieces.executors ?? (runsJobs ? localExecutors({ owner: config.executorOwner, gpuDevices }) : undefined);
  const stop = async () => {
    if (executorsReady) await stopStep('the executors', async () => closeExecutors(await executorsReady.catch(() => [])));
    for (const { name, cleanup } of cleanups.splice(0).reverse()) await stopStep(name, cleanup).catch((error) => logger.warn({ err: error }, 'clean-up failed'));
  };

  try {
    const chainId = pieces.chain.chainId ?? (await fetchChainId(rpcUrl));
    const domain = { chainId, dealsAddress };
    const connect = (privateKey: Hex) => connectChain({ rpcUrl, privateKey, chainId });
    const modules = createModuleResolver({ ...config.moduleLocations, sources: config.moduleSources?.length ? config.moduleSources : DEFAULT_SERVICE_MODULE_SOURCES });
    const roles: RunningRoles = { chainId, modules, stop };
    const start = async <T extends { start(): Promise<void>; stop(): Promise<void> }>(name: string, service: T): Promise<T> => {
      await service.start();
      cleanups.push({ name, cleanup: () => service.stop() });
      return service;
    };

    if (config.solver) {
      const publicClient = createLilypadPublicClient({ rpcUrl, chainId });
      const solver = await start('the solver', createSolver(config.solver, {
        domain,
        readDeal: chainReadDeal(publicClient, dealsAddress),
        freeEscrow: chainFreeEscrow(publicClient, dealsAddress),
        signatureVerifier: publicClient,
        logger: logger.child({ role: 'solver' }),
      }));
      roles.solver = { url: solver.url, stop: () => solver.stop() };
    }
    const solverUrl = roles.solver?.url ?? config.solverUrl;
    const solverClient = () => {
      if (!solverUrl) throw new Error('wiring: a role needs a solver, and none is started here or configured');
      return createSolverClient(solverUrl);
    };
    const executors = (await executorsReady) ?? [];
    const inputGateways = config.inputGateways ?? [];
    /**
     * A role's blockstore under `dir` (seen through `wrap`, if given), with its IPFS node serving it unless the
     * configuration says none.
     */
    const openData = async (dir: string, role: string, wrap: (store: Blockstore) => Blockstore = (store) => store) => {
      const opened = await openBlockstore(dir);
      cleanups.push({ name: `the ${role}'s blockstore`, cleanup: () => closeBlockstore(opened) });
      const blockstore = wrap(opened);
      if (config.ipfs === false) return { blockstore };
      const ipfs = await start(`the ${role}'s IPFS node`, createIpfsNode({ blockstore, listen: config.ipfs?.listen, peers: config.ipfs?.peers, loopbackOnly: loopbackOnly(config.ipfs?.listen), logger: logger.child({ role, part: 'ipfs' }) }));
      return { blockstore, ipfs };
    };
    /** The provider and the mediator read inputs alike, so a re-run sees the bytes the provider's run saw. */
    const inputsInto = ({ blockstore, ipfs }: { blockstore: Blockstore; ipfs?: IpfsNode }) => jobInputStore({ ipfs, gatewayUrls: inputGateways, blockstore });

    if (config.mediator) {
      const { privateKey, dataDir, ...mediatorConfig } = config.mediator;
      const chain = await connect(privateKey);
      const address = chain.walletClient.account.address;
      const mediatorDataDir = dataDir ?? path.join(os.tmpdir(), `lilypad-mediator-${address}`);
      const data = await openData(path.join(mediatorDataDir, 'blocks'), 'mediator');
      const mediator = await start('the mediator', createMediator(
        { ...mediatorConfig, dataDir: mediatorDataDir },
        { chain, domain, solver: solverClient(), executors, modules, ...data, inputs: inputsInto(data), logger: logger.child({ role: 'mediator' }) },
      ));
      roles.mediator = { address, url: mediator.url, stop: () => mediator.stop() };
    }

    if (config.resourceProvider) {
      const { privateKey, ...providerConfig } = config.resourceProvider;
      const chain = await connect(privateKey);
      // One sweepable store for the jobs, the inputs' fetcher and the IPFS node alike: a sweep sees every write (result-retention.ts).
      const data = await openData(path.join(providerConfig.dataDir, 'blocks'), 'resource-provider', (store) => new SweepableBlockstore(store));
      const provider = await start('the resource provider', createResourceProvider(
        { ...PROVIDER_DEFAULTS, ...providerConfig },
        { chain, domain, solver: solverClient(), executors, modules, ...data, inputs: inputsInto(data), logger: logger.child({ role: 'resource-provider' }) },
      ));
      roles.resourceProvider = { address: provider.address, stop: () => provider.stop() };
    }

    if (config.bridge) {
      const { privateKey, dataDir, ...bridgeConfig } = config.bridge;
      const chain = await connect(privateKey);
      const data = await openData(path.join(dataDir, 'blocks'), 'jobcreator');
      const bridge = await start('the bridge', createBridge(
        { ...bridgeConfig, resultsDir: path.join(dataDir, 'results') },
        {
          chain,
          domain,
          solver: solverClient(),
          modules,
          readDeal: chainReadDeal(chain.publicClient, dealsAddress),
          ...data,
          logger: logger.child({ role: 'jobcreator' }),
        },
      ));
      roles.bridge = { address: chain.walletClient.account.address, stop: () => bridge.stop() };
    }
    return roles;
  } catch (error) {
    await stop();
    throw error;
  }
}
