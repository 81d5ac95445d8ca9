/**
 * The provider's resource offer: what it says (machine, engines, modules, results address), its signature,
 * and keeping one posted to the solver with the capacity that is free, renewed when the deals matched into
 * it have used it up or it nears expiry. Every offer it signs is kept in the deal store, so that a deal
 * naming one can be checked against this provider's own copy.
 */
import type { Hex } from 'viem';
import type { ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import { msUntil, secondsFromNow } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { offerDomain, offerTypes, type SignedResourceOfferTerms } from '../protocol/eip712.js';
import { detailsHashOf } from '../protocol/ids.js';
import { defaultDealTimeouts } from '../protocol/mediation.js';
import { randomNonce, resourceOfferId, type OfferDomain, type ResourceOffer, type ResourceOfferDetails } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import { DEFAULT_RESULTS_KEPT_FOR, type ResourceProviderConfig } from './config.js';
import type { DealStore } from './deal-store.js';

export type OfferPosterConfig = Pick<
  ResourceProviderConfig,
  'price' | 'collateralMultiple' | 'capacity' | 'machine' | 'modules' | 'refuseModules' | 'mediators' | 'offerTtlSeconds' | 'minSubmitTimeout' | 'maxJudgeWindow' | 'maxMediationTimeout' | 'resultsKeptFor'
>;

export interface OfferPosterComponents {
  chain: Pick<ChainClients, 'walletClient'>;
  domain: OfferDomain;
  solver: Pick<SolverClient, 'postResourceOffer'>;
  executors: Pick<Executor, 'engine' | 'isAvailable'>[];
  store: () => DealStore;
  logger: Logger;
}

export interface OfferPoster {
  /** Offers with this results address from now on; posts nothing yet. */
  /** `ipfsPeers`: the provider's IPFS node, signed into the offer's details beside the results address. */
  start(resultsUrl: string, ipfsPeers?: string[]): Promise<void>;
  /**
   * Posts a fresh offer when the current one is used up or close to expiry (or always, with `force`), with
   * the capacity that is free now; with none free, the next finished deal calls this again.
   */
  keepPosted(force?: boolean): Promise<void>;
  /** `keepPosted` in the background: a failure is only logged, the next finished deal tries again. */
  renew(): void;
  /** Counts a new deal against the offer it was matched from, and renews the offer if that used it up. */
  countUse(resourceOfferId: Hex): void;
  /** Posts nothing more; resolves once the offer being posted is. */
  stop(): Promise<void>;
}

export function createOfferPoster(config: OfferPosterConfig, components: OfferPosterComponents): OfferPoster {
  const { store, logger } = components;
  const address = components.chain.walletClient.account.address;
  let stopped = false;
  let details: ResourceOfferDetails | undefined;
  /** The offer the solver matches from now. */
  let current: { id: Hex; capacity: number; uses: number; expiry: bigint } | undefined;
  let posting: Promise<void> = Promise.resolve();
  let renewTimer: NodeJS.Timeout | undefined;

  async function sign(offerDetails: ResourceOfferDetails, capacity: number): Promise<ResourceOffer> {
    const terms: SignedResourceOfferTerms = {
      resourceProvider: address,
      price: config.price,
      collateralMultiple: config.collateralMultiple,
      capacity: BigInt(capacity),
      mediators: config.mediators,
      minSubmitTimeout: config.minSubmitTimeout ?? defaultDealTimeouts.minSubmitTimeout,
      maxJudgeWindow: config.maxJudgeWindow ?? defaultDealTimeouts.maxJudgeWindow,
      maxMediationTimeout: config.maxMediationTimeout ?? defaultDealTimeouts.maxMediationTimeout,
      detailsHash: detailsHashOf(offerDetails),
      nonce: randomNonce(),
      expiry: secondsFromNow(config.offerTtlSeconds ?? 3600),
    };
    const signature = await components.chain.walletClient.signTypedData({
      domain: offerDomain(components.domain.chainId, components.domain.dealsAddress),
      types: offerTypes,
      primaryType: 'ResourceOffer',
      message: terms,
    });
    return { terms, details: offerDetails, signature };
  }

  /** Deals taken and not yet submitted: what occupies (or will occupy) a job slot. */
  function inFlight(): number {
    const counts = store().counts();
    return counts.taken + counts.agreed + counts.ran;
  }

  function keepPosted(force = false): Promise<void> {
    // After the last post's failure, not in its place: one post the solver did not take (it was away) must
    // not stop every later one.
    posting = posting.catch(() => undefined).then(async () => {
      if (stopped || !details) return;
      const nearExpiry = current !== undefined && msUntil(current.expiry) < 60_000;
      if (!force && current && current.uses < current.capacity && !nearExpiry) return;
      const free = config.capacity - inFlight();
      if (free <= 0 && !nearExpiry && !force) return;
      const offer = await sign(details, Math.max(1, free));
      const id = resourceOfferId(components.domain, offer.terms);
      store().saveOffer(id, offer);
      current = { id, capacity: Number(offer.terms.capacity), uses: 0, expiry: offer.terms.expiry };
      await components.solver.postResourceOffer(offer);
      logger.info({ offerId: id, capacity: current.capacity }, 'resource offer posted');
      clearTimeout(renewTimer);
      // Renewed a minute before it expires, so that the solver never holds only an expired one.
      renewTimer = setTimeout(renew, Math.max(1000, msUntil(offer.terms.expiry) - 60_000));
      renewTimer.unref();
    });
    return posting;
  }

  function renew(): void {
    keepPosted().catch((error) => logger.warn({ err: error }, 'offer renewal failed'));
  }

  return {
    async start(resultsUrl, ipfsPeers) {
      const available = await Promise.all(components.executors.map(async (e) => ((await e.isAvailable()) ? [e.engine] : [])));
      stopped = false;
      details = {
        machine: config.machine,
        engines: [...new Set(available.flat())],
        modules: config.modules,
        // Signed into the offer, so the solver does not match a refused module to this provider at all.
        ...(config.refuseModules?.length ? { refusedModules: config.refuseModules } : {}),
        // Signed, so that a job creator can hold the provider to it (result-retention.ts keeps to it).
        resultsKeptSeconds: config.resultsKeptFor ?? DEFAULT_RESULTS_KEPT_FOR,
        resultsUrl,
        ...(ipfsPeers?.length ? { ipfsPeers: ipfsPeers.slice(0, 8) } : {}),
      };
    },
    keepPosted,
    renew,
    countUse(resourceOfferId) {
      const offer = store().countOfferUse(resourceOfferId);
      if (current && offer && offer.id === current.id.toLowerCase()) current.uses = offer.uses;
      renew();
    },
    async stop() {
      stopped = true;
      clearTimeout(renewTimer);
      await posting.catch(() => undefined);
    },
  };
}
