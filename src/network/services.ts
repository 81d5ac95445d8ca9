/**
 * Each role as a service of its own, connected to a chain by RPC URL and to the solver by URL: what the
 * `lilypad solver`, `lilypad resource-provider` and `lilypad mediator` processes run.
 */
import os from 'node:os';
import path from 'node:path';
import type { Address, Hex } from 'viem';
import { connectChain, createLilypadPublicClient, fetchChainId } from '../chain/index.js';
import { createWasmExecutor } from '../executor/wasm/index.js';
import type { Executor } from '../executor/types.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { createMediator } from '../mediator/mediator.js';
import { createModuleResolver } from '../module/resolve.js';
import type { MachineSpec } from '../protocol/machine.js';
import { createResourceProvider } from '../resource-provider/resource-provider.js';
import { createSolverClient } from '../solver/client.js';
import { createSolver } from '../solver/solver.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';
import { createBridge } from '../bridge/bridge.js';
import { chainReadDeal } from './read-deal.js';

export interface RunningService {
  /** The service's HTTP address, where it has one. */
  url?: string;
  address?: Address;
  stop(): Promise<void>;
}

export interface ChainConnection {
  rpcUrl: string;
  dealsAddress: Address;
}

/** CPU, GPU and RAM of this machine, as a provider offers them unless told otherwise. */
export function detectMachine(): MachineSpec {
  return { cpu: os.availableParallelism() * 1000, gpu: 0, ram: Math.floor(os.totalmem() / 1024 / 1024) };
}

export async function startSolverService(
  options: ChainConnection & { host?: string; port?: number; logger?: Logger; dbPath?: string },
): Promise<RunningService> {
  const chainId = await fetchChainId(options.rpcUrl);
  const publicClient = createLilypadPublicClient({ rpcUrl: options.rpcUrl, chainId });
  const solver = createSolver(
    { host: options.host, port: options.port, dbPath: options.dbPath },
    { domain: { chainId, dealsAddress: options.dealsAddress }, readDeal: chainReadDeal(publicClient, options.dealsAddress), signatureVerifier: publicClient, logger: options.logger },
  );
  await solver.start();
  return { url: solver.url, stop: () => solver.stop() };
}

export interface ResourceProviderServiceOptions extends ChainConnection {
  privateKey: Hex;
  solverUrl: string;
  mediators: Address[];
  price: bigint;
  collateralMultiple: bigint;
  capacity: number;
  machine: MachineSpec;
  modules: string[];
  dataDir: string;
  host?: string;
  port?: number;
  logger?: Logger;
}

export async function startResourceProviderService(options: ResourceProviderServiceOptions): Promise<RunningService> {
  const logger = options.logger ?? silentLogger;
  const chain = await connectChain({ rpcUrl: options.rpcUrl, privateKey: options.privateKey });
  const blockstore = await openBlockstore(path.join(options.dataDir, 'blocks'));
  const executors: Executor[] = [createWasmExecutor()];
  const provider = createResourceProvider(
    {
      price: options.price,
      collateralMultiple: options.collateralMultiple,
      capacity: options.capacity,
      machine: options.machine,
      modules: options.modules,
      mediators: options.mediators,
      dataDir: options.dataDir,
      host: options.host,
      port: options.port,
    },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: options.dealsAddress },
      solver: createSolverClient(options.solverUrl),
      executors,
      modules: createModuleResolver(),
      blockstore,
      logger,
    },
  );
  try {
    await provider.start();
  } catch (error) {
    await Promise.all(executors.map((e) => e.close()));
    await closeBlockstore(blockstore);
    throw error;
  }
  return {
    address: provider.address,
    async stop() {
      await provider.stop();
      await Promise.all(executors.map((e) => e.close()));
      await closeBlockstore(blockstore);
    },
  };
}

export async function startMediatorService(
  options: ChainConnection & { privateKey: Hex; logger?: Logger; solverUrl?: string; dataDir?: string },
): Promise<RunningService> {
  const chain = await connectChain({ rpcUrl: options.rpcUrl, privateKey: options.privateKey });
  const address = chain.walletClient.account.address;
  // The mediator fetches challenged deals' job offers from the solver (and checks them against the deal id).
  const solverUrl = options.solverUrl ?? process.env.SERVICE_SOLVER ?? 'http://127.0.0.1:8080';
  const executors: Executor[] = [createWasmExecutor()];
  const mediator = createMediator(
    { dataDir: options.dataDir ?? path.join(os.tmpdir(), `lilypad-mediator-${address}`) },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: options.dealsAddress },
      solver: createSolverClient(solverUrl),
      executors,
      modules: createModuleResolver(),
      logger: options.logger,
    },
  );
  await mediator.start();
  return {
    address,
    async stop() {
      await mediator.stop();
      await Promise.all(executors.map((e) => e.close()));
    },
  };
}

export interface BridgeServiceOptions extends ChainConnection {
  /** The bridge's key: the on-chain job creator's operator. */
  privateKey: Hex;
  solverUrl: string;
  mediators: Address[];
  /** The LilypadOnChainJobCreator contract. */
  jobCreatorAddress: Address;
  maxPrice: bigint;
  dataDir: string;
  logger?: Logger;
}

/** `lilypad jobcreator`: runs the jobs that contracts ask the on-chain job creator for. */
export async function startBridgeService(options: BridgeServiceOptions): Promise<RunningService> {
  const chain = await connectChain({ rpcUrl: options.rpcUrl, privateKey: options.privateKey });
  const blockstore = await openBlockstore(path.join(options.dataDir, 'blocks'));
  const bridge = createBridge(
    { contract: options.jobCreatorAddress, mediators: options.mediators, maxPrice: options.maxPrice, resultsDir: path.join(options.dataDir, 'results') },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: options.dealsAddress },
      solver: createSolverClient(options.solverUrl),
      modules: createModuleResolver(),
      readDeal: chainReadDeal(chain.publicClient, options.dealsAddress),
      blockstore,
      logger: options.logger,
    },
  );
  try {
    await bridge.start();
  } catch (error) {
    await closeBlockstore(blockstore);
    throw error;
  }
  return {
    address: chain.walletClient.account.address,
    async stop() {
      await bridge.stop();
      await closeBlockstore(blockstore);
    },
  };
}
