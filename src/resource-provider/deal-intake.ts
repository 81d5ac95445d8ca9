/**
 * Hearing of deals: the provider's subscription to the solver (listened to again, and the offer posted
 * again, after a lost connection), and what it takes from a `deal:matched` event. Only a deal under a
 * resource offer this provider signed and with the id its job offer hashes to is taken; it is recorded with
 * the provider's own copy of the offer, the job creator's acceptance of the match is kept once it is
 * verified, and the deal is handed to the deal runner.
 */
import { isAddressEqual, type Hex } from 'viem';
import type { Logger } from '../lib/logger.js';
import type { Deal } from '../protocol/deals.js';
import { jobOfferId, resourceOfferId, verifyMatchAcceptance } from '../protocol/offers.js';
import type { EventSubscription, SolverClient } from '../solver/client.js';
import type { ResourceProviderComponents } from './config.js';
import type { DealStore } from './deal-store.js';
import type { OfferPoster } from './offer-poster.js';

export interface DealIntakeComponents extends Pick<ResourceProviderComponents, 'chain' | 'domain'> {
  solver: Pick<SolverClient, 'subscribe'>;
  store: () => DealStore;
  logger: Logger;
  offers: Pick<OfferPoster, 'countUse' | 'keepPosted'>;
  /** Moves a deal on in the background. */
  follow: (dealId: Hex) => void;
}

export interface DealIntake {
  /** Subscribes to this provider's deals; resolves once the solver has confirmed. */
  start(): Promise<void>;
  stop(): void;
}

export function createDealIntake(components: DealIntakeComponents): DealIntake {
  const { store, logger, offers } = components;
  const address = components.chain.walletClient.account.address;
  let stopped = false;
  let subscription: EventSubscription | undefined;
  const retryTimers = new Set<NodeJS.Timeout>();

  /**
   * A deal the solver says this provider was matched into. Only a resource offer this provider signed counts
   * (the id is the hash of its terms, so its own stored copy is what it agrees); the job creator's acceptance
   * of the match, once it comes with the deal, is checked and kept, and the deal moves on.
   */
  async function onDeal(deal: Deal): Promise<void> {
    if (!isAddressEqual(deal.resourceOffer.terms.resourceProvider, address)) return;
    const own = store().getOffer(deal.resourceOfferId);
    if (!own || resourceOfferId(components.domain, deal.resourceOffer.terms) !== own.id) {
      logger.warn({ dealId: deal.dealId, resourceOfferId: deal.resourceOfferId }, 'deal names a resource offer this provider did not sign; ignored');
      return;
    }
    // The deal id is the job offer's hash on chain: a deal told under another id would be agreed under one
    // and followed under the other, and its collateral lost to the submit timeout.
    if (jobOfferId(components.domain, deal.jobOffer.terms) !== deal.dealId.toLowerCase()) {
      logger.warn({ dealId: deal.dealId }, 'deal id is not its job offer’s hash; ignored');
      return;
    }
    const { matchAcceptance, ...matched } = deal;
    if (store().add({ ...matched, resourceOffer: own.offer })) offers.countUse(deal.resourceOfferId);
    const stored = store().get(deal.dealId);
    if (matchAcceptance && stored && !stored.matchAcceptance) {
      const valid = await verifyMatchAcceptance(components.domain, stored.deal, matchAcceptance, components.chain.publicClient);
      if (valid) store().setMatchAcceptance(deal.dealId, matchAcceptance);
      else logger.warn({ dealId: deal.dealId }, 'match acceptance is not the job creator’s; ignored');
    }
    components.follow(deal.dealId);
  }

  async function listen(): Promise<void> {
    let closed = false;
    const reconnect = () => {
      if (closed || stopped) return;
      closed = true;
      const retry = setTimeout(() => {
        retryTimers.delete(retry);
        if (stopped) return;
        // The solver may have dropped this provider's offer while it was away. A failed re-post is not a lost
        // connection: listening again for it would leave a second subscription open.
        listen()
          .then(() => offers.keepPosted(true).catch((error) => logger.warn({ err: error }, 'offer re-post failed')))
          .catch((error) => {
            logger.warn({ err: error }, 'solver unreachable; retrying');
            closed = false;
            reconnect();
          });
      }, 1000);
      retry.unref();
      retryTimers.add(retry);
    };
    subscription = components.solver.subscribe({ resourceProvider: address, signer: components.chain.walletClient, domain: components.domain, events: ['deal:matched'] }, (event) => {
      if (event.type === 'deal:matched') onDeal(event.deal).catch((error) => logger.warn({ err: error }, 'deal not taken'));
    }, () => reconnect());
    await subscription.ready;
  }

  return {
    async start() {
      stopped = false;
      await listen();
    },
    stop() {
      stopped = true;
      subscription?.close();
      for (const retry of retryTimers) clearTimeout(retry);
      retryTimers.clear();
    },
  };
}
