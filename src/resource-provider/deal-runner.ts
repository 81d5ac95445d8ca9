/**
 * Moving the provider's deals along, each from wherever the chain says it is: agree it once the job
 * creator's acceptance of the match has come, run the job, submit the result CID, then wait for payment
 * (handing the deal to the settler) or send the mediation timeout of a challenged deal when it is due. It
 * owns the movers (one per deal, at most `capacity` at once through the job slots) and the timers set for
 * chain deadlines; the job itself runs in job-runner.ts.
 */
import { isAddressEqual, type Hex } from 'viem';
import { agreeDeal, getDeal, submitResults, timeoutMediation, timeoutSubmitResults, type ChainDeal } from '../chain/index.js';
import { msUntil, nowSeconds, secondsFromNow } from '../lib/clock.js';
import { LilypadError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { SolverClient } from '../solver/client.js';
import type { SweepableBlockstore } from '../storage/index.js';
import type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';
import type { DealChecks } from './deal-checks.js';
import type { DealStore } from './deal-store.js';
import { createJobRunner } from './job-runner.js';
import { createJobSlots } from './job-slots.js';
import type { OfferPoster } from './offer-poster.js';
import type { Settler } from './settler.js';

export type DealRunnerConfig = Pick<ResourceProviderConfig, 'capacity' | 'dataDir' | 'matchAcceptanceWaitMs'>;

export interface DealRunnerComponents extends Pick<ResourceProviderComponents, 'chain' | 'domain' | 'ipfs'> {
  blockstore: SweepableBlockstore;
  solver: Pick<SolverClient, 'syncDeal'>;
  store: () => DealStore;
  logger: Logger;
  checks: DealChecks;
  offers: Pick<OfferPoster, 'renew'>;
  settler: Pick<Settler, 'queue'>;
}

export interface DealRunner {
  start(): void;
  /** Moves a deal on in the background; a deal already moving is moved on again once its current step is done. */
  follow(dealId: Hex): void;
  /** Moves a deal on now, from wherever the chain says it is. */
  advance(dealId: Hex): Promise<void>;
  /** Resolves when no deal is being moved along. */
  idle(): Promise<void>;
  /** Stops the running jobs and the deadline timers; resolves when every mover has returned. */
  stop(): Promise<void>;
}

export function createDealRunner(config: DealRunnerConfig, components: DealRunnerComponents): DealRunner {
  const { store, logger, checks, offers, settler } = components;
  const address = components.chain.walletClient.account.address;
  const deals = components.domain.dealsAddress;
  const jobSlots = createJobSlots(Math.max(1, config.capacity));
  const jobs = createJobRunner(config, components);
  /** Deals being moved along now, by id. */
  const active = new Map<Hex, Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;

  /**
   * Runs `task` a second after chain deadline `deadline` (unix seconds), unless the provider stops first: the
   * chain allows a timeout only in a block whose time is past the deadline.
   */
  function at(deadline: bigint, task: () => Promise<void>): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) task().catch((error) => logger.warn({ err: error }, 'deal follow-up failed'));
    }, Math.max(0, msUntil(deadline)) + 1000);
    timer.unref();
    timers.add(timer);
  }

  /**
   * Moves one deal on from wherever it is, as read from the chain: agree, run, submit, then wait for
   * payment. Safe to call again at any point (after a crash too): each step first looks at the chain.
   */
  async function advance(dealId: Hex): Promise<void> {
    const log = logger.child({ dealId });
    /** The deal's state as this provider's own last transaction left it, so that it need not be read back. */
    let known: Pick<ChainDeal, 'state' | 'deadline' | 'resultCid' | 'resourceProvider'> | null | undefined;
    // A deal only taken is not read first: if it is on chain already, the agreement fails and the chain is read then.
    let first = true;
    for (;;) {
      if (stopped) return;
      const stored = store().get(dealId);
      if (!stored || stored.stage === 'done' || stored.stage === 'failed') return;
      const { deal } = stored;
      if (first && stored.stage === 'taken') known = null;
      first = false;
      const onChain = known !== undefined ? known : await getDeal(components.chain.publicClient, { deals, dealId });
      known = undefined;

      if (!onChain) {
        if (stored.stage !== 'taken') {
          // Recorded as agreed but the chain has no such deal: the agreement never landed.
          store().setStage(dealId, 'taken');
        }
        const expiry = deal.jobOffer.terms.expiry < deal.resourceOffer.terms.expiry ? deal.jobOffer.terms.expiry : deal.resourceOffer.terms.expiry;
        if (expiry <= nowSeconds()) {
          store().setStage(dealId, 'failed', { error: stored.matchAcceptance ? 'an offer expired before the deal was agreed' : 'the job creator did not accept the match before its offer expired' });
          return;
        }
        // A match its job creator does not accept holds a job slot: it is given up after a while, so that
        // nobody can keep a provider's capacity by posting jobs and never accepting them.
        const acceptanceWaitMs = config.matchAcceptanceWaitMs ?? 120_000;
        const acceptBy = stored.updatedAt + acceptanceWaitMs;
        if (!stored.matchAcceptance && Date.now() >= acceptBy) {
          const error = `the job creator did not accept the match within ${acceptanceWaitMs / 1000} s`;
          store().setStage(dealId, 'failed', { error });
          log.warn(`deal given up: ${error}`);
          return;
        }
        try {
          // Everything is checked before anything is locked, also while the job creator's acceptance is awaited.
          await checks.prepare(deal);
          if (!stored.matchAcceptance) {
            const giveUpAt = BigInt(Math.ceil(acceptBy / 1000));
            at(giveUpAt < expiry ? giveUpAt : expiry, async () => follow(dealId));
            return;
          }
          // Only the provider can agree its offer: its transaction is its consent.
          await agreeDeal(components.chain, {
            deals,
            jobOffer: deal.jobOffer.terms,
            jobCreatorSignature: deal.jobOffer.signature,
            resourceOffer: deal.resourceOffer.terms,
            matchAcceptance: stored.matchAcceptance,
          });
        } catch (error) {
          // Another look: the agreement may have landed even though waiting for it failed.
          if (await getDeal(components.chain.publicClient, { deals, dealId }).catch(() => null)) continue;
          store().setStage(dealId, 'failed', { error: (error as Error).message });
          throw error;
        }
        store().setStage(dealId, 'agreed');
        log.info('deal agreed');
        void components.solver.syncDeal(dealId).catch(() => undefined);
        known = { state: 'agreed', deadline: secondsFromNow(deal.jobOffer.terms.submitTimeout), resultCid: '', resourceProvider: address };
        continue;
      }

      // The deal id is the job offer's hash; a deal with it that another provider agreed is not this one's.
      if (!isAddressEqual(onChain.resourceProvider, address)) {
        store().setStage(dealId, 'failed', { error: `the job offer was agreed with another provider (${onChain.resourceProvider})` });
        log.warn('deal on chain belongs to another provider; dropped');
        return;
      }
      switch (onChain.state) {
        case 'agreed': {
          if (onChain.deadline < nowSeconds()) {
            // Too late to submit: end the deal, as anyone may, so that nothing stays locked (the collateral
            // goes to the job creator, as the rules say).
            await timeoutSubmitResults(components.chain, { deals, dealId });
            log.warn('submit deadline passed before results; deal timed out');
            continue;
          }
          let resultCid = stored.stage === 'ran' ? stored.resultCid : undefined;
          // The job runner records the result (stage `ran`) itself, before a sweep may see its blocks.
          resultCid ??= await jobs.run(deal, onChain.deadline);
          await submitResults(components.chain, { deals, dealId, resultCid });
          store().setStage(dealId, 'submitted', { resultCid });
          // The job creator hears of the results through the solver, so this one is awaited.
          await components.solver.syncDeal(dealId).catch(() => undefined);
          offers.renew();
          known = { state: 'results-submitted', deadline: secondsFromNow(deal.jobOffer.terms.judgeWindow), resultCid, resourceProvider: address };
          continue;
        }
        case 'results-submitted': {
          if (stored.stage !== 'submitted') store().setStage(dealId, 'submitted', { resultCid: onChain.resultCid });
          if (stored.acceptance || onChain.deadline < nowSeconds()) settler.queue(dealId, stored.acceptance);
          else {
            at(onChain.deadline, async () => {
              const now = await getDeal(components.chain.publicClient, { deals, dealId });
              if (now?.state === 'results-submitted') settler.queue(dealId, store().get(dealId)?.acceptance);
              else await advance(dealId);
            });
          }
          return;
        }
        case 'results-checked': {
          if (stored.stage !== 'submitted') store().setStage(dealId, 'submitted', { resultCid: onChain.resultCid });
          at(onChain.deadline, async () => {
            const now = await getDeal(components.chain.publicClient, { deals, dealId });
            if (now?.state === 'results-checked') await timeoutMediation(components.chain, { deals, dealId });
            await advance(dealId);
          });
          return;
        }
        default: {
          store().setStage(dealId, 'done');
          await components.solver.syncDeal(dealId).catch(() => undefined);
          offers.renew();
          return;
        }
      }
    }
  }

  function follow(dealId: Hex): void {
    if (stopped) return;
    const moving = active.get(dealId);
    if (moving) {
      // An acceptance may have come while the deal was being checked.
      moving.then(() => follow(dealId));
      return;
    }
    const work = jobSlots
      .run(() => advance(dealId))
      .catch((error) => {
        logger.error({ dealId, err: error, code: error instanceof LilypadError ? error.code : undefined }, 'deal failed');
      })
      .finally(() => {
        active.delete(dealId);
        checks.forget(dealId);
        offers.renew();
      });
    active.set(dealId, work);
  }

  return {
    start() {
      stopped = false;
      jobs.start();
    },
    follow,
    advance,
    async idle() {
      while (active.size > 0) await Promise.allSettled(active.values());
    },
    async stop() {
      stopped = true;
      jobs.stop();
      await Promise.allSettled(active.values());
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
