/**
 * Checking a result instead of trusting it: re-running a deal's job here and comparing result CIDs
 * (`createVerifier`), a judge for `runJob` that challenges when they differ (`verifyingJudge`, what
 * `lilypad run --verify` uses), and challenging a deal afterwards (`challengeDeal`, what
 * `lilypad challenge DEAL` uses). The job is re-run from the deal's own job offer, resolved and rendered
 * as the provider and the mediator must, with the deal id as the job id (it seeds the job's random bytes),
 * so an honest result gives the same CID here as there.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { isAddressEqual, type Address, type Hex } from 'viem';
import { challengeResults, type ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import { JobError } from '../lib/errors.js';
import { prepareRerun, runPreparedJob, type PrepareJobComponents } from '../module/prepare-job.js';
import type { ModuleResolver } from '../module/resolve.js';
import type { Deal, OnChainDealView, ReadDeal } from '../protocol/deals.js';
import { mediatorSeedHashOf, sharedMediatorsOf } from '../protocol/mediation.js';
import { jobOfferId, type OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import { cidOfDirectory } from '../storage/index.js';
import { followChallenge } from './follow-challenge.js';
import type { JobProgressEvent, RunJobOptions } from './types.js';
import { mediatorSeedOf } from './sign-job-offer.js';

/** What a check tells the user, rendered by the CLI like the job's own progress events. */
export type CheckProgressEvent =
  | { type: 'verify:rerun'; dealId: Hex; submittedCid: string; rerunCid: string; matches: boolean; dir: string }
  | { type: 'verify:cannot-rerun'; dealId: Hex; reason: string }
  | {
      type: 'audit:decided';
      dealId: Hex;
      audited: boolean;
      /** The share of jobs audited. */
      rate: number;
      /** What a cheating provider loses per job in expectation, LP (wei); zero or less means no guarantee. */
      cheaterExpectedLoss: bigint;
    };

/** Decides on a downloaded result of a deal: true accepts it, false challenges it. */
export type DealJudge = (result: { dealId: Hex; cid: string; dir: string }) => Promise<boolean>;

/**
 * `runJob` options whose judge is `judge`, told the deal id (which `runJob`'s own judge is not): the
 * id comes from the job's `deal:agreed` event. The caller's `onProgress` still sees every event.
 */
export function withDealJudge(options: RunJobOptions, judge: DealJudge): RunJobOptions {
  let dealId: Hex | undefined;
  return {
    ...options,
    onProgress: (event: JobProgressEvent) => {
      if (event.type === 'deal:agreed') dealId = event.dealId;
      options.onProgress?.(event);
    },
    judge: async (result) => {
      if (!dealId) throw new JobError('judging a result before its deal was agreed', { code: 'internal' });
      return await judge({ dealId, ...result });
    },
  };
}

export interface VerifierComponents {
  /** Where the deal's job offer is fetched from; it is checked against the deal id, so the solver is not trusted. */
  solver: SolverClient;
  domain: OfferDomain;
  modules: ModuleResolver;
  executors: Executor[];
  /** Where jobs' inputs by CID come from; without it a job with inputs cannot be re-run here. */
  inputs?: PrepareJobComponents['inputs'];
}

export type RerunOutcome =
  | { rerun: true; cid: string; dir: string }
  | { rerun: false; reason: string };

export interface Verifier {
  /** Re-runs the deal's job into `<workDir>/<dealId>` and returns the CID, or why it cannot here. */
  rerun(dealId: Hex): Promise<RerunOutcome>;
  /** Re-runs and compares with `submittedCid`; the re-run folder is kept only when they differ. */
  check(dealId: Hex, submittedCid: string, onProgress?: (event: CheckProgressEvent) => void): Promise<boolean | undefined>;
}

/** The deal's job offer from the solver, checked to be the one whose EIP-712 hash is the deal id. */
export async function fetchCheckedDeal(solver: SolverClient, domain: OfferDomain, dealId: Hex): Promise<Deal> {
  const deal = await solver.getDeal(dealId);
  if (jobOfferId(domain, deal.jobOffer.terms).toLowerCase() !== dealId.toLowerCase()) {
    throw new JobError(`the solver sent a job offer that is not deal ${dealId}'s`, { code: 'solver-untrusted' });
  }
  return deal;
}

export function createVerifier(config: { workDir: string }, components: VerifierComponents): Verifier {
  async function rerun(dealId: Hex): Promise<RerunOutcome> {
    const deal = await fetchCheckedDeal(components.solver, components.domain, dealId);
    let prepared;
    try {
      prepared = await prepareRerun(deal, components);
    } catch (error) {
      return { rerun: false, reason: (error as Error).message };
    }
    const dir = path.join(config.workDir, dealId);
    await runPreparedJob(prepared, { jobId: dealId, resultDir: dir });
    return { rerun: true, cid: (await cidOfDirectory(dir)).toString(), dir };
  }

  return {
    rerun,
    async check(dealId, submittedCid, onProgress) {
      let outcome: RerunOutcome;
      try {
        outcome = await rerun(dealId);
      } catch (error) {
        // A job that traps or hits a limit here would do the same at the mediator's: let it decide.
        outcome = { rerun: false, reason: (error as Error).message };
      }
      if (!outcome.rerun) {
        onProgress?.({ type: 'verify:cannot-rerun', dealId, reason: outcome.reason });
        return undefined;
      }
      const matches = outcome.cid === submittedCid;
      onProgress?.({ type: 'verify:rerun', dealId, submittedCid, rerunCid: outcome.cid, matches, dir: outcome.dir });
      if (matches) await rm(outcome.dir, { recursive: true, force: true });
      return matches;
    },
  };
}

/**
 * The judge of `lilypad run --verify`: accepts a result whose CID the local re-run gives too, and
 * challenges one it does not. A job that cannot be re-run here is challenged as well, so that the
 * mediator checks it (at the mediation fee): verifying means not accepting unchecked.
 */
export function verifyingJudge(verifier: Verifier, onProgress?: (event: CheckProgressEvent) => void): DealJudge {
  return async ({ dealId, cid }) => (await verifier.check(dealId, cid, onProgress)) === true;
}

export interface ChallengeComponents {
  /** The job creator's wallet: it signs the seed again and sends the challenge. */
  chain: ChainClients;
  domain: OfferDomain;
  solver: SolverClient;
  readDeal: ReadDeal;
}

export interface ChallengeDealOptions {
  /** Follow the mediation to its ruling (default true). */
  wait?: boolean;
  signal?: AbortSignal;
  onProgress?: (event: JobProgressEvent) => void;
}

export interface ChallengeDealResult {
  dealId: Hex;
  mediator: Address;
  /** The deal's state when the command returned: a mediation outcome, or 'results-checked' without `wait`. */
  state: OnChainDealView['state'];
}

/**
 * Challenges a deal's results after the fact, as its job creator (the wallet in `components.chain`), and
 * follows the mediation. Needs the deal's job offer (from the solver, checked against the deal id) for the
 * seed's nonce and the mediator candidates.
 */
export async function challengeDeal(dealId: Hex, components: ChallengeComponents, options: ChallengeDealOptions = {}): Promise<ChallengeDealResult> {
  const emit = options.onProgress ?? (() => undefined);
  const deals = components.domain.dealsAddress;
  const me = components.chain.walletClient.account.address;
  const deal = await fetchCheckedDeal(components.solver, components.domain, dealId);
  const onChain = await components.readDeal(dealId);
  if (!isAddressEqual(onChain.jobCreator, me)) {
    throw new JobError(`deal ${dealId} is ${onChain.jobCreator}'s; only its job creator can challenge it, and this wallet is ${me}`, { code: 'not-job-creator' });
  }
  let mediator = onChain.mediator;
  if (onChain.state === 'results-submitted') {
    const now = (await components.chain.publicClient.getBlock()).timestamp;
    if (now > onChain.deadline) {
      throw new JobError(`deal ${dealId}'s judge window closed at ${new Date(Number(onChain.deadline) * 1000).toISOString()}; its results count as accepted`, { code: 'judge-window-closed' });
    }
    const seed = await mediatorSeedOf(components.chain, deal.jobOffer.terms.nonce);
    if (mediatorSeedHashOf(seed).toLowerCase() !== deal.jobOffer.terms.mediatorSeedHash.toLowerCase()) {
      throw new JobError(`deal ${dealId}'s mediator seed was not made by lilypad from this key, so it cannot be revealed here`, { code: 'seed-unknown' });
    }
    ({ mediator } = await challengeResults(components.chain, {
      deals,
      dealId,
      jobCreatorSeed: seed,
      candidates: sharedMediatorsOf(deal.jobOffer.terms.mediators, deal.resourceOffer.terms.mediators),
      providerSeed: onChain.providerSeed,
    }));
    await components.solver.syncDeal(dealId).catch(() => undefined);
  } else if (onChain.state !== 'results-checked') {
    const why: Record<string, string> = {
      none: 'there is no such deal on chain',
      agreed: 'it has no results yet',
      'results-accepted': 'its results were already accepted',
      'submit-timed-out': 'its provider never submitted results; the payment and collateral came back to you',
    };
    throw new JobError(`deal ${dealId} cannot be challenged: ${why[onChain.state] ?? `it was already mediated (${onChain.state})`}`, { code: 'not-challengeable' });
  }
  emit({ type: 'results:challenged', dealId, mediator });
  if (options.wait === false) return { dealId, mediator, state: 'results-checked' };
  return { dealId, mediator, state: await followChallenge(components, dealId, { signal: options.signal, onProgress: emit }) };
}
