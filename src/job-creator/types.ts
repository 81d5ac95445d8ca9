/**
 * The job creator's vocabulary: its options, the pieces it needs, its progress events and its result. In a
 * file of their own so that the steps (signing, accepting, following) and runJob share them without
 * importing each other.
 */
import type { Address, Hex } from 'viem';
import type { ChainClients } from '../chain/index.js';
import type { PrepareJobComponents } from '../module/prepare-job.js';
import type { ModuleResolver } from '../module/resolve.js';
import type { Deal, OnChainDealView, ReadDeal } from '../protocol/deals.js';
import type { JobOffer, OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import type { Blockstore } from '../storage/index.js';
import type { IpfsNode } from '../storage/ipfs-node.js';

export type JobProgressEvent =
  | { type: 'job:submitting'; module: string }
  | { type: 'job:submitted'; jobOfferId: Hex }
  | { type: 'job:unmatched'; reason: string }
  | { type: 'deal:agreed'; dealId: Hex; resourceProvider: Address; price: bigint }
  /**
   * The job's stdout while it runs, as the provider streams it (live-output.ts): a preview, unchecked and unpaid
   * for, which may stop short. The result's stdout (JobResult.stdout), checked against its CID, is what counts.
   */
  | { type: 'job:output'; dealId: Hex; text: string }
  | { type: 'results:submitted'; dealId: Hex; cid: string }
  | { type: 'results:accepted'; dealId: Hex }
  | { type: 'results:challenged'; dealId: Hex; mediator: Address }
  | { type: 'mediation:ruled'; dealId: Hex; state: OnChainDealView['state'] }
  | { type: 'results:downloaded'; cid: string; dir: string };

export interface RunJobOptions {
  module: string;
  inputs: Record<string, string>;
  /** The most LP (wei) this job may cost. */
  maxPrice: bigint;
  /** The least collateral (LP wei) a provider must lock for this job; default 0 (the provider's own terms). */
  minCollateral?: bigint;
  mediators: Address[];
  /** Seconds the offer stays open for a match. */
  offerTtlSeconds?: number;
  /**
   * End the job at once (code `job-unmatched`, with the solver's reason) when the solver says no resource
   * offer fits, instead of waiting the offer's life for one that does: for a network where nothing can
   * change, such as the embedded one with its single provider. Nothing is locked in escrow before a match.
   */
  failWhenUnmatched?: boolean;
  /** Deal timeouts in seconds (defaults in `defaultDealTimeouts`). */
  submitTimeout?: bigint;
  judgeWindow?: bigint;
  mediationTimeout?: bigint;
  /** LP (wei) paid to the mediator if this job creator challenges; default 0.1 LP. */
  mediationFee?: bigint;
  /**
   * Decides on the downloaded result: true accepts it (gasless), false challenges it (a transaction of the
   * job creator's, plus the mediation fee). Default: accept. A result that cannot be downloaded is challenged.
   */
  judge?: (result: { cid: string; dir: string }) => boolean | Promise<boolean>;
  /**
   * The job creator the deal is for, when it is a contract that accepts this wallet's signatures
   * (ERC-1271), as the on-chain job creator does for its bridge; default: the wallet's own address.
   */
  jobCreator?: Address;
  /** Results land in `resultsDir/<cid>`. */
  resultsDir: string;
  signal?: AbortSignal;
  onProgress?: (event: JobProgressEvent) => void;
  /**
   * Called with the signed offer before it is sent: where a caller records the job, so that a crash of
   * this process after sending never loses it (`followJob` picks it up again).
   */
  onOffer?: (offer: JobOffer, jobOfferId: Hex) => void | Promise<void>;
  /** Called with the deal each time the solver tells of it (it carries the provider's results address). */
  onDeal?: (deal: Deal) => void;
  /** The deal as last seen, when following a job again: used if the solver no longer knows it. */
  knownDeal?: Deal;
}

export interface JobCreatorComponents {
  chain: ChainClients;
  domain: OfferDomain;
  solver: SolverClient;
  modules: ModuleResolver;
  readDeal: ReadDeal;
  /** Where downloaded blocks are kept (and verified) before the folder is written. */
  blockstore: Blockstore;
  /** Where a re-run here (`--verify`, audits) fetches jobs' inputs by CID from; without it such a job is not re-run. */
  inputs?: PrepareJobComponents['inputs'];
  /**
   * This job creator's IPFS node, over `blockstore`: its addresses go into each job offer, so that providers
   * fetch the inputs it holds from it, and results are fetched through it from the provider's node first
   * (the provider's results gateway is the second path).
   */
  ipfs?: IpfsNode;
  /**
   * Sends the challenge of a deal's results; default: the deal contract's `challengeResults` from this
   * wallet. A job creator that is a contract (`jobCreator`) must send it itself, as the on-chain job
   * creator's bridge does through the contract (`challengeJobResults`).
   */
  challenge?: (args: ChallengeArgs) => Promise<{ mediator: Address }>;
}

/** What a challenge reveals: the job creator's mediator seed, the candidates, and the provider's seed. */
export interface ChallengeArgs {
  dealId: Hex;
  jobCreatorSeed: Hex;
  candidates: Address[];
  providerSeed: Hex;
}

export interface JobResult {
  dealId: Hex;
  cid: string;
  dir: string;
  stdout: string;
  exitCode: number;
  /** Why the job failed, when the provider's executor gave up on it (the result folder's `error`). */
  error?: string;
  resourceProvider: Address;
  price: bigint;
  /** The deal's final or current state: 'results-submitted' (accepted off chain), or a mediation outcome. */
  state: OnChainDealView['state'];
}
