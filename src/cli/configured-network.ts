/**
 * The job creator on a network named by the environment (WEB3_RPC_URL and the rest): its connections, and
 * the record on this machine of each job it runs there, which `lilypad run`, `lilypad get` and `lilypad job`
 * share.
 */
import path from 'node:path';
import type { Address, Hex } from 'viem';
import { checkDealsContract, connectChain, fetchChainId } from '../chain/index.js';
import type { JobStore } from '../job-creator/job-store.js';
import type { JobCreatorComponents, postJob, RunJobOptions } from '../job-creator/run-job.js';
import { UserInputError } from '../lib/errors.js';
import { configuredRpcUrl, parseNetworkConfig } from '../lib/config.js';
import { createModuleResolver } from '../module/resolve.js';
import { chainReadDeal } from '../network/read-deal.js';
import { createSolverClient } from '../solver/client.js';
import { closeBlockstore, openBlockstore } from '../storage/index.js';

export type PostedJob = Awaited<ReturnType<typeof postJob>>;

export interface ConfiguredNetwork {
  components: JobCreatorComponents;
  mediators: Address[];
  solverUrl: string;
  close(): Promise<void>;
}

/** The job creator's connections to the network named by the environment (WEB3_RPC_URL and the rest). */
export async function connectConfiguredNetwork(env: NodeJS.ProcessEnv, resultsDir: string): Promise<ConfiguredNetwork> {
  const rpcUrl = configuredRpcUrl(env);
  if (rpcUrl === undefined) {
    throw new UserInputError('no network is configured: set WEB3_RPC_URL and the rest (eval "$(lilypad stack env)" for a local stack)', { code: 'network-missing' });
  }
  // Settings first: a bad key or address is reported as itself, not as whatever the chain says about it.
  const config = parseNetworkConfig(env);
  const chainId = await fetchChainId(rpcUrl);
  const chain = await connectChain({ rpcUrl: config.WEB3_RPC_URL, privateKey: config.WEB3_PRIVATE_KEY as `0x${string}`, chainId });
  const dealsAddress = config.LILYPAD_DEALS_ADDRESS as Address;
  await checkDealsContract(chain.publicClient, { deals: dealsAddress, chainId, setting: 'LILYPAD_DEALS_ADDRESS' });
  const blockstore = await openBlockstore(path.join(path.dirname(resultsDir), 'blocks'));
  return {
    components: {
      chain,
      domain: { chainId, dealsAddress },
      solver: createSolverClient(config.SERVICE_SOLVER),
      modules: createModuleResolver(),
      readDeal: chainReadDeal(chain.publicClient, dealsAddress),
      blockstore,
    },
    mediators: config.SERVICE_MEDIATORS as Address[],
    solverUrl: config.SERVICE_SOLVER,
    close: () => closeBlockstore(blockstore),
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
