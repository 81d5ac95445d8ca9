/**
 * The network a command's jobs run on, opened once for all of them: with nothing configured, an embedded
 * network (torn down by `close`); else the configured network (WEB3_RPC_URL and the rest), where every job is
 * recorded in the job store before its offer is sent. Either way the job creator's IPFS node serves the
 * lasting blockstore to the providers while the command runs. `lilypad run` runs one job on it, `lilypad
 * pipeline run` every step of a pipeline.
 */
import { formatEther, isAddressEqual, type Address, type Hex } from 'viem';
import { connectChain, escrowBalance } from '../chain/index.js';
import { runCheckedJob, type JobChecks } from './audit.js';
import { defaultJobsDbPath, openJobStore } from './job-store.js';
import { followJob, postJob, type JobCreatorComponents, type JobResult, type RunJobOptions } from './run-job.js';
import { UserInputError } from '../lib/errors.js';
import { jobInputStore } from '../module/builtin-data.js';
import { moduleLocationsOf } from '../module/git.js';
import { configuredRpcUrl, dealsFromBlock } from '../lib/config.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../network/embedded.js';
import { createSolverClient } from '../solver/client.js';
import type { FsBlockstore } from '../storage/index.js';
import type { IpfsNode } from '../storage/ipfs-node.js';
import { connectConfiguredNetwork, recordingJobOptions, type PostedJob } from './configured-network.js';
import type { MarketSources } from './market-view.js';
import { startJobCreatorNode } from './data-node.js';
import { stopStep } from '../lib/stop-steps.js';

/** A job as a command asks for it; the network adds its mediators, and where results go unless the job says. */
export type JobRequest = Omit<RunJobOptions, 'mediators' | 'resultsDir' | 'signal'> & { resultsDir?: string };

/** The `identity` of every embedded network: each lives for one command, and serves the same lasting blockstore. */
export const EMBEDDED_NETWORK_IDENTITY = 'embedded';

export interface JobNetwork {
  /** `embedded`, or the configured chain and deal contract: where a job's result was made. */
  identity: string;
  /** Runs a job to its end, with the checks asked for (`--verify`, `--audit`). */
  run(job: JobRequest, checks?: JobChecks): Promise<JobResult>;
  /** Posts a job and returns without following it (configured networks only). */
  post(job: JobRequest): Promise<PostedJob>;
  /**
   * Follows a job posted earlier from this machine to its end, as `lilypad get ID` does; undefined when that
   * cannot be done here (the embedded network dies with its command; a job posted to another network).
   */
  follow(jobId: Hex, job: JobRequest): Promise<JobResult | undefined>;
  /** Where the network's market is read (the chain, its deal contract, the solver): for `createMarketView`. */
  market: MarketSources;
  close(): Promise<void>;
}

export interface OpenJobNetworkOptions {
  env: NodeJS.ProcessEnv;
  resultsDir: string;
  signal: AbortSignal;
  /** The lasting blockstore (`blocksDir`): served to the providers, and where results are kept. */
  blockstore: FsBlockstore;
  /**
   * How the command named local data it added (`-i Data=@./x`), if any: refused, with this name, when no
   * IPFS node can serve it (LILYPAD_IPFS_LISTEN=off), as the job would fail after it was paid for.
   */
  localData?: string;
}

export async function openJobNetwork(options: OpenJobNetworkOptions): Promise<JobNetwork> {
  const { blockstore } = options;
  const jobOptionsFor = (job: JobRequest, mediators: Address[]): RunJobOptions => ({ ...job, mediators, resultsDir: job.resultsDir ?? options.resultsDir, signal: options.signal });

  if (configuredRpcUrl(options.env) === undefined) {
    const ipfs = await startJobCreatorNode(options.env, blockstore);
    let network: EmbeddedNetwork | undefined;
    const close = async () => {
      await network?.stop();
      if (ipfs) await stopStep("the job creator's IPFS node", () => ipfs.stop());
    };
    let components: JobCreatorComponents;
    try {
      refuseUnservedLocalData(options.localData, ipfs);
      network = await startEmbeddedNetwork({ moduleLocations: moduleLocationsOf(options.env) });
      options.signal.throwIfAborted();
      const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
      components = {
        chain,
        domain: network.domain,
        solver: createSolverClient(network.solverUrl),
        modules: network.modules,
        readDeal: network.readDeal,
        blockstore,
        ipfs,
        // A re-run here (--verify, --audit) reads the inputs from this job creator's blocks, or the provider's node.
        inputs: jobInputStore({ ipfs, gatewayUrls: [], blockstore }),
      };
    } catch (error) {
      await close();
      throw error;
    }
    const { mediators } = network;
    return {
      identity: EMBEDDED_NETWORK_IDENTITY,
      // One provider that nothing can change: an offer it cannot take fails now, not after the offer's life.
      run: (job, checks = {}) => runCheckedJob(checks, { ...jobOptionsFor(job, mediators), failWhenUnmatched: true }, components),
      post: async () => {
        throw new UserInputError('--detach needs a configured network (WEB3_RPC_URL and the rest): the embedded network ends with the command', { code: 'input-malformed' });
      },
      // Its chain ended with the command that posted the job.
      follow: async () => undefined,
      // Its chain starts with the network.
      market: { publicClient: components.chain.publicClient, domain: components.domain, solver: components.solver, fromBlock: 0n },
      close,
    };
  }

  const network = await connectConfiguredNetwork(options.env);
  let fromBlock: bigint;
  try {
    fromBlock = dealsFromBlock(options.env);
    refuseUnservedLocalData(options.localData, network.components.ipfs);
  } catch (error) {
    await network.close();
    throw error;
  }
  // On a configured network the job is recorded before its offer is sent: `lilypad get ID` finishes it if
  // this process dies.
  const jobs = openJobStore(defaultJobsDbPath(options.env));
  const { domain } = network.components;
  const escrow = escrowReservations(network.components);
  return {
    identity: `chain ${domain.chainId}, deal contract ${domain.dealsAddress.toLowerCase()}`,
    market: { publicClient: network.components.chain.publicClient, domain, solver: network.components.solver, fromBlock },
    async run(job, checks = {}) {
      const release = await escrow.reserve(job.maxPrice);
      try {
        return await runCheckedJob(checks, recordingJobOptions(jobs, network, jobOptionsFor(job, network.mediators)), network.components);
      } finally {
        release();
      }
    },
    async post(job) {
      // A posted job is followed elsewhere (`lilypad get`): nothing here knows when it ends, so nothing stays reserved.
      const release = await escrow.reserve(job.maxPrice);
      release();
      return await postJob(recordingJobOptions(jobs, network, jobOptionsFor(job, network.mediators)), network.components);
    },
    async follow(jobId, job) {
      const stored = jobs.find(jobId);
      if (!stored || stored.stage === 'failed' || stored.network.chainId !== domain.chainId || !isAddressEqual(stored.network.dealsAddress, domain.dealsAddress)) return undefined;
      const recorded = recordingJobOptions(jobs, network, {
        ...jobOptionsFor(job, stored.offer.terms.mediators),
        maxPrice: stored.offer.terms.maxPrice,
        knownDeal: stored.deal,
      });
      // followJob records through onOffer only for new jobs; this one is known, so mark it by hand.
      await recorded.onOffer?.(stored.offer, stored.id);
      return await followJob(stored.offer, recorded, network.components);
    },
    async close() {
      jobs.close();
      await network.close();
    },
  };
}

/** Local data reaches providers only through this job creator's IPFS node: without one the job would fail after it was paid for. */
function refuseUnservedLocalData(localData: string | undefined, ipfs: IpfsNode | undefined): void {
  if (localData === undefined || ipfs !== undefined) return;
  throw new UserInputError(
    `${localData}: local data reaches the providers through this machine's IPFS node, and LILYPAD_IPFS_LISTEN is off; unset it, or give a CID that the providers can fetch elsewhere`,
    { code: 'input-unreachable' },
  );
}

/**
 * Fails a job at once when the job creator's free escrow cannot pay a provider that charges its price
 * ceiling: such an offer could never be agreed, and the user would wait out its whole life to learn why.
 * Jobs running at once from this process (the studio's) share the escrow, and the chain shows a job's
 * price only once its deal is agreed: so each running job keeps its ceiling reserved here until it ends,
 * and a new job must fit in what is left. Counting an agreed job twice (on chain and here) only errs on
 * the safe side.
 */
function escrowReservations(components: JobCreatorComponents) {
  let reserved = 0n;
  return {
    async reserve(maxPrice: bigint): Promise<() => void> {
      const account = components.chain.walletClient.account.address;
      const { free } = await escrowBalance(components.chain.publicClient, { deals: components.domain.dealsAddress, account });
      // No await between the check and the reservation: jobs asked for together are counted one after the other.
      if (free - reserved < maxPrice) {
        const others = reserved > 0n ? ` (${formatEther(reserved)} LP of it kept for the jobs running now)` : '';
        throw new UserInputError(
          `the escrow of ${account} holds ${formatEther(free)} LP${others}, less than --max-price ${formatEther(maxPrice)} LP: deposit LP into the deal contract (lilypad faucet ${account} on a local network), lower --max-price, or run fewer jobs at once`,
          { code: 'escrow-too-small' },
        );
      }
      reserved += maxPrice;
      let released = false;
      return () => {
        if (!released) reserved -= maxPrice;
        released = true;
      };
    },
  };
}
