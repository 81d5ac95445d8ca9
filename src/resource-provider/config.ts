/**
 * What a resource provider is configured with and what it is handed: the two types every part of the
 * provider picks the fields it needs from.
 */
import type { Address } from 'viem';
import type { ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import type { Logger } from '../lib/logger.js';
import type { PrepareJobComponents } from '../module/prepare-job.js';
import type { ModuleResolver } from '../module/resolve.js';
import type { MachineSpec } from '../protocol/machine.js';
import type { OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import type { Blockstore } from '../storage/index.js';
import type { IpfsNode } from '../storage/ipfs-node.js';

/** Seven days: how long results are kept after their deal ends when nothing else is configured. */
export const DEFAULT_RESULTS_KEPT_FOR = 7 * 24 * 3600;

export interface ResourceProviderConfig {
  /** LP (wei) per job. */
  price: bigint;
  collateralMultiple: bigint;
  /** Jobs run at once; the posted offer never promises more than is free. */
  capacity: number;
  machine: MachineSpec;
  /** Module names or ids this provider runs; empty means all. */
  modules: string[];
  /** Module names or ids it refuses even when allowed, such as those `lilypad module test` flagged as not deterministic. */
  refuseModules?: string[];
  mediators: Address[];
  offerTtlSeconds?: number;
  /** The shortest submit timeout (s) it accepts; default 60. */
  minSubmitTimeout?: bigint;
  /** The longest judge window (s) it lets its collateral wait; default 3600. */
  maxJudgeWindow?: bigint;
  /** The longest mediation (s) it lets its collateral be frozen for after a challenge; default 3600. */
  maxMediationTimeout?: bigint;
  /** How long a matched deal waits for its job creator's acceptance before it is given up (ms); default 120 s. */
  matchAcceptanceWaitMs?: number;
  /** The longest `Timeout` (s) a module may ask for here; longer ones are refused before agreeing; default 3600. */
  maxJobTimeoutSeconds?: number;
  /** Most deals settled in one transaction; default 20. */
  settleBatchSize?: number;
  /** How long acceptances are gathered before one settlement transaction (ms); default 0. */
  settleDelayMs?: number;
  /**
   * How long (s) result blocks are kept after a deal ends; default 7 days (`DEFAULT_RESULTS_KEPT_FOR`). Said
   * in every offer, so that a job creator knows until when it may come back for a result.
   */
  resultsKeptFor?: number;
  /** How often blocks nothing keeps any more are removed (ms); default one hour. A sweep also runs at start. */
  sweepIntervalMs?: number;
  /** Where job folders and `provider.db` are kept. */
  dataDir: string;
  host?: string;
  port?: number;
}

export interface ResourceProviderComponents {
  chain: ChainClients;
  domain: OfferDomain;
  solver: SolverClient;
  executors: Executor[];
  modules: ModuleResolver;
  /**
   * Where result and input blocks live. Hand a `SweepableBlockstore` when anything else writes to it (the
   * inputs' fetcher), so that a sweep sees those writes; a bare one is wrapped here.
   */
  blockstore: Blockstore;
  /** Its IPFS node over `blockstore`, named in its offers: job creators and mediators fetch results (and inputs) from it. */
  ipfs?: IpfsNode;
  /** Where jobs' inputs by CID come from; without it a job with inputs is refused before it is agreed. */
  inputs?: PrepareJobComponents['inputs'];
  logger?: Logger;
  /** The clock (ms) that says which results were kept long enough; default `Date.now`. Tests move it. */
  now?: () => number;
}
