/**
 * Each role as a service of its own, connected to a chain by RPC URL and to the solver by URL: what the
 * `lilypad solver`, `lilypad resource-provider` and `lilypad mediator` processes run.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import type { Address, Hex } from 'viem';
import { connectChain, createLilypadPublicClient, fetchChainId } from '../chain/index.js';
import { createWasmExecutor } from '../executor/wasm/index.js';
import type { Executor } from '../executor/types.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { createMediator } from '../mediator/mediator.js';
import { createModuleResolver, type ModuleResolver } from '../module/resolve.js';
import { DEFAULT_SERVICE_MODULE_SOURCES, type ModuleSources } from '../module/sources.js';
import type { MachineSpec } from '../protocol/machine.js';
import { createResourceProvider } from '../resource-provider/resource-provider.js';
import { createSolverClient } from '../solver/client.js';
import { createSolver } from '../solver/solver.js';
import { chainFreeEscrow } from '../solver/standing.js';
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

/** Where a service fetches the modules that strangers' offers name; empty or left out: the safe default. */
export interface ModuleSourcesOption {
  moduleSources?: ModuleSources;
}

function serviceModuleResolver(options: ModuleSourcesOption): ModuleResolver {
  return createModuleResolver({ sources: options.moduleSources?.length ? options.moduleSources : DEFAULT_SERVICE_MODULE_SOURCES });
}

/** CPU, GPU and RAM of this machine, as a provider offers them unless told otherwise. */
export function detectMachine(): MachineSpec & { gpuMemory?: number } {
  const gpus = detectGpus();
  return {
    cpu: os.availableParallelism() * 1000,
    gpu: gpus.length * 1000,
    ram: Math.floor(os.totalmem() / 1024 / 1024),
    ...(gpus.length > 0 ? { gpuMemory: Math.min(...gpus) } : {}),
  };
}

/**
 * The memory (MB) of each NVIDIA GPU, from `nvidia-smi` where it is installed; none where it is not or fails.
 * GPUs are counted in milli-GPU like CPUs (1000 a card).
 */
export function detectGpus(): number[] {
  try {
    const output = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return output
      .split('\n')
      .map((line) => Number.parseInt(line.trim(), 10))
      .filter((mb) => Number.isFinite(mb) && mb > 0);
  } catch {
    return [];
  }
}

export async function startSolverService(
  options: ChainConnection & { host?: string; port?: number; logger?: Logger; dbPath?: string },
): Promise<RunningService> {
  const chainId = await fetchChainId(options.rpcUrl);
  const publicClient = createLilypadPublicClient({ rpcUrl: options.rpcUrl, chainId });
  const solver = createSolver(
    { host: options.host, port: options.port, dbPath: options.dbPath },
    { domain: { chainId, dealsAddress: options.dealsAddress }, readDeal: chainReadDeal(publicClient, options.dealsAddress), freeEscrow: chainFreeEscrow(publicClient, options.dealsAddress), signatureVerifier: publicClient, logger: options.logger },
  );
  await solver.start();
  return { url: solver.url, stop: () => solver.stop() };
}

export interface ResourceProviderServiceOptions extends ChainConnection, ModuleSourcesOption {
  privateKey: Hex;
  solverUrl: string;
  mediators: Address[];
  price: bigint;
  collateralMultiple: bigint;
  capacity: number;
  machine: MachineSpec;
  modules: string[];
  /** Modules refused even when allowed (flagged not deterministic by `lilypad module test`). */
  refuseModules?: string[];
  dataDir: string;
  host?: string;
  port?: number;
  /** The shortest submit timeout, the longest judge window and mediation (s) its deals may have, and the longest module Timeout. */
  minSubmitTimeout?: bigint;
  maxJudgeWindow?: bigint;
  maxMediationTimeout?: bigint;
  maxJobTimeoutSeconds?: number;
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
      refuseModules: options.refuseModules,
      mediators: options.mediators,
      dataDir: options.dataDir,
      host: options.host,
      port: options.port,
      minSubmitTimeout: options.minSubmitTimeout,
      maxJudgeWindow: options.maxJudgeWindow,
      maxMediationTimeout: options.maxMediationTimeout,
      maxJobTimeoutSeconds: options.maxJobTimeoutSeconds,
      // Acceptances arriving within this long share one settlement transaction.
      settleDelayMs: 200,
    },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: options.dealsAddress },
      solver: createSolverClient(options.solverUrl),
      executors,
      modules: serviceModuleResolver(options),
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
  options: ChainConnection & ModuleSourcesOption & {
    privateKey: Hex;
    logger?: Logger;
    solverUrl?: string;
    dataDir?: string;
    /** Other mediators' URLs to re-run each challenged job too (a majority must agree), and where to serve re-runs. */
    panel?: string[];
    host?: string;
    port?: number;
  },
): Promise<RunningService> {
  const chain = await connectChain({ rpcUrl: options.rpcUrl, privateKey: options.privateKey });
  const address = chain.walletClient.account.address;
  // The mediator fetches challenged deals' job offers from the solver (and checks them against the deal id).
  const solverUrl = options.solverUrl ?? process.env.SERVICE_SOLVER ?? 'http://127.0.0.1:8080';
  const executors: Executor[] = [createWasmExecutor()];
  const mediator = createMediator(
    {
      dataDir: options.dataDir ?? path.join(os.tmpdir(), `lilypad-mediator-${address}`),
      panel: options.panel,
      listen: options.port !== undefined ? { host: options.host, port: options.port } : undefined,
    },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: options.dealsAddress },
      solver: createSolverClient(solverUrl),
      executors,
      modules: serviceModuleResolver(options),
      logger: options.logger,
    },
  );
  await mediator.start();
  return {
    address,
    url: mediator.url,
    async stop() {
      await mediator.stop();
      await Promise.all(executors.map((e) => e.close()));
    },
  };
}

export interface BridgeServiceOptions extends ChainConnection, ModuleSourcesOption {
  /** The bridge's key: the on-chain job creator's operator. */
  privateKey: Hex;
  solverUrl: string;
  mediators: Address[];
  /** The LilypadOnChainJobCreator contract. */
  jobCreatorAddress: Address;
  maxPrice: bigint;
  /** Re-runs here, challenged through the contract when they differ: a share of jobs (default), every job, or none. */
  checks?: 'audit' | 'verify' | 'none';
  dataDir: string;
  logger?: Logger;
}

/** `lilypad jobcreator`: runs the jobs that contracts ask the on-chain job creator for. */
export async function startBridgeService(options: BridgeServiceOptions): Promise<RunningService> {
  const chain = await connectChain({ rpcUrl: options.rpcUrl, privateKey: options.privateKey });
  const blockstore = await openBlockstore(path.join(options.dataDir, 'blocks'));
  const bridge = createBridge(
    {
      contract: options.jobCreatorAddress,
      mediators: options.mediators,
      maxPrice: options.maxPrice,
      resultsDir: path.join(options.dataDir, 'results'),
      audit: options.checks !== 'none',
      verify: options.checks === 'verify',
    },
    {
      chain,
      domain: { chainId: chain.chainId, dealsAddress: options.dealsAddress },
      solver: createSolverClient(options.solverUrl),
      modules: serviceModuleResolver(options),
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
