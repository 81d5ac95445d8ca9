/**
 * The job creator on a network named by the environment (WEB3_RPC_URL and the rest): its connections, and
 * the record on this machine of each job it runs there, which `lilypad run`, `lilypad get` and `lilypad job`
 * share.
 */
import { isAddress, isAddressEqual, type Address, type Hex } from 'viem';
import { checkDealsContract, connectChain, fetchChainId, redactRpcUrl } from '../chain/index.js';
import type { JobStore, StoredJob } from './job-store.js';
import type { JobCreatorComponents, postJob, RunJobOptions } from './run-job.js';
import { ChainError, LilypadError, UserInputError } from '../lib/errors.js';
import { blocksDir, configuredRpcUrl, parseNetworkConfig } from '../lib/config.js';
import { privateKey } from '../lib/service-config.js';
import { jobInputStore } from '../module/builtin-data.js';
import { createModuleResolver } from '../module/resolve.js';
import { chainReadDeal } from '../network/read-deal.js';
import { createSolverClient } from '../solver/client.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';
import { startJobCreatorNode } from './data-node.js';

export type PostedJob = Awaited<ReturnType<typeof postJob>>;

export interface ConfiguredNetwork {
  components: JobCreatorComponents;
  mediators: Address[];
  solverUrl: string;
  close(): Promise<void>;
}

/** The job creator's connections to the network named by the environment (WEB3_RPC_URL and the rest). */
export async function connectConfiguredNetwork(env: NodeJS.ProcessEnv): Promise<ConfiguredNetwork> {
  const rpcUrl = configuredRpcUrl(env);
  if (rpcUrl === undefined) {
    throw new UserInputError('no network is configured: set WEB3_RPC_URL and the rest (eval "$(lilypad stack env)" for a local stack)', { code: 'network-missing' });
  }
  // Settings first: a bad key or address is reported as itself, not as whatever the chain says about it.
  const config = parseNetworkConfig(env);
  const chainId = await fetchChainId(rpcUrl);
  return await connect({
    rpcUrl,
    privateKey: config.WEB3_PRIVATE_KEY as Hex,
    chainId,
    dealsAddress: config.LILYPAD_DEALS_ADDRESS as Address,
    dealsSetting: 'LILYPAD_DEALS_ADDRESS',
    solverUrl: config.SERVICE_SOLVER,
    mediators: config.SERVICE_MEDIATORS as Address[],
    env,
  });
}

/**
 * The connections to the network a recorded job was posted to: its chain, deal contract and solver as
 * recorded, so that `lilypad get` and `lilypad job` follow the job where it is, not wherever the environment
 * points now. Only the way in comes from the environment: WEB3_RPC_URL (which must be the job's chain) and
 * WEB3_PRIVATE_KEY. `notice` hears one line when the environment names another deal contract or solver.
 */
export async function connectJobNetwork(
  env: NodeJS.ProcessEnv,
  job: Pick<StoredJob, 'id' | 'network' | 'offer'>,
  notice: (line: string) => void,
): Promise<ConfiguredNetwork> {
  const recorded = job.network;
  const ranOn = `job ${job.id.slice(0, 12)} was posted on chain ${recorded.chainId} (deal contract ${recorded.dealsAddress}, solver ${recorded.solverUrl})`;
  const rpcUrl = configuredRpcUrl(env);
  if (rpcUrl === undefined) throw new UserInputError(`${ranOn}: set WEB3_RPC_URL to an RPC URL of that chain, and WEB3_PRIVATE_KEY`, { code: 'network-missing' });
  const key = privateKey.safeParse(env.WEB3_PRIVATE_KEY ?? '');
  if (!key.success) {
    const why = env.WEB3_PRIVATE_KEY ? key.error.issues[0]!.message : 'is not set';
    throw new UserInputError(`WEB3_PRIVATE_KEY ${why}`, { code: 'config-invalid' });
  }
  const chainId = await fetchChainId(rpcUrl).catch((error: unknown) => {
    if (!(error instanceof LilypadError)) throw error;
    throw new ChainError(`${error.message}; ${ranOn}`, { code: error.code, retryable: error.retryable, details: error.details, cause: error });
  });
  if (chainId !== recorded.chainId) {
    throw new UserInputError(`${ranOn}, but WEB3_RPC_URL ${redactRpcUrl(rpcUrl)} is chain ${chainId}: set WEB3_RPC_URL to an RPC URL of chain ${recorded.chainId}`, {
      code: 'network-differs',
    });
  }
  const differs = [
    env.LILYPAD_DEALS_ADDRESS && isAddress(env.LILYPAD_DEALS_ADDRESS, { strict: false }) && !isAddressEqual(env.LILYPAD_DEALS_ADDRESS, recorded.dealsAddress)
      ? `LILYPAD_DEALS_ADDRESS ${env.LILYPAD_DEALS_ADDRESS}`
      : undefined,
    env.SERVICE_SOLVER && env.SERVICE_SOLVER !== recorded.solverUrl ? `SERVICE_SOLVER ${env.SERVICE_SOLVER}` : undefined,
  ].filter(Boolean);
  if (differs.length > 0) notice(`${ranOn}; following it there, not at ${differs.join(' and ')}`);
  return await connect({
    rpcUrl,
    privateKey: key.data as Hex,
    chainId,
    dealsAddress: recorded.dealsAddress,
    dealsSetting: 'the recorded deal contract',
    solverUrl: recorded.solverUrl,
    mediators: job.offer.terms.mediators,
    env,
  }).catch((error: unknown) => {
    if (!(error instanceof ChainError) || error.code !== 'deals-contract-invalid') throw error;
    throw new UserInputError(
      `${ranOn}, but the chain at ${redactRpcUrl(rpcUrl)} has no Lilypad deal contract there: is WEB3_RPC_URL another chain with the same id (a local chain started afresh)?`,
      { code: 'network-differs', cause: error },
    );
  });
}

async function connect(args: {
  rpcUrl: string;
  privateKey: Hex;
  chainId: number;
  dealsAddress: Address;
  /** What named the deal contract, for the message when it is not one. */
  dealsSetting: string;
  solverUrl: string;
  mediators: Address[];
  env: NodeJS.ProcessEnv;
}): Promise<ConfiguredNetwork> {
  const { chainId, dealsAddress } = args;
  const chain = await connectChain({ rpcUrl: args.rpcUrl, privateKey: args.privateKey, chainId });
  await checkDealsContract(chain.publicClient, { deals: dealsAddress, chainId, setting: args.dealsSetting });
  // The lasting blockstore of `lilypad add`: what this job creator added or downloaded, its node serves.
  const blockstore = await openBlockstore(blocksDir(args.env));
  const ipfs = await startJobCreatorNode(args.env, blockstore).catch(async (error: unknown) => {
    await closeBlockstore(blockstore);
    throw error;
  });
  return {
    components: {
      chain,
      domain: { chainId, dealsAddress },
      solver: createSolverClient(args.solverUrl),
      modules: createModuleResolver({ env: process.env }),
      readDeal: chainReadDeal(chain.publicClient, dealsAddress),
      blockstore,
      ipfs,
      // A re-run here (--verify, --audit) reads the inputs as a provider does.
      inputs: jobInputStore({ ipfs, gatewayUrls: [], blockstore }),
    },
    mediators: args.mediators,
    solverUrl: args.solverUrl,
    close: async () => {
      await ipfs?.stop();
      await closeBlockstore(blockstore);
    },
  };
}

/** RunJobOptions that record the job in `jobs` as it goes: the offer before it is sent, then the deal and each step. */
export function recordingJobOptions(jobs: JobStore, network: Pick<ConfiguredNetwork, 'components' | 'solverUrl'>, options: RunJobOptions): RunJobOptions {
  let id: Hex | undefined;
  return {
    ...options,
    onOffer: async (offer, jobOfferId) => {
      id = jobOfferId;
      jobs.add({
        id: jobOfferId,
        module: options.module,
        inputs: options.inputs,
        offer,
        network: { chainId: network.components.domain.chainId, dealsAddress: network.components.domain.dealsAddress, solverUrl: network.solverUrl },
      });
      await options.onOffer?.(offer, jobOfferId);
    },
    onDeal: (deal) => {
      jobs.setDeal(deal.dealId, deal);
      options.onDeal?.(deal);
    },
    onProgress: (event) => {
      if (id) {
        if (event.type === 'deal:agreed') jobs.setStage(id, 'agreed');
        else if (event.type === 'results:submitted') jobs.setStage(id, 'results', { cid: event.cid });
        else if (event.type === 'results:accepted') jobs.setStage(id, 'accepted');
        else if (event.type === 'results:challenged') jobs.setStage(id, 'challenged');
        else if (event.type === 'results:downloaded') jobs.setStage(id, 'done', { cid: event.cid, dir: event.dir });
      }
      options.onProgress?.(event);
    },
  };
}
