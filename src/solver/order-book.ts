/**
 * The solver's memory: resource offers, job offers waiting for a match, and deals. Matching happens
 * whenever an offer arrives. (Persistence in SQLite comes with the stack of separate processes.)
 */
import type { Hex } from 'viem';
import { canTransition, type DealState } from '../protocol/deal-states.js';
import type { Deal } from '../protocol/deals.js';
import type { JobOffer, ResourceOffer } from '../protocol/offers.js';
import { matchJobOffer, type StoredResourceOffer } from './matcher.js';

export interface PendingJobOffer {
  id: Hex;
  offer: JobOffer;
  reason: string;
}

export class OrderBook {
  private readonly resourceOffers = new Map<Hex, StoredResourceOffer>();
  private readonly pending = new Map<Hex, PendingJobOffer>();
  private readonly deals = new Map<Hex, Deal>();
  private arrivals = 0;

  addResourceOffer(id: Hex, offer: ResourceOffer): void {
    if (this.resourceOffers.has(id)) return;
    this.resourceOffers.set(id, { id, offer, used: 0, receivedAt: this.arrivals++ });
  }

  /** Tries to match; a job offer that fits nothing waits, with the reason. */
  addJobOffer(id: Hex, offer: JobOffer, nowSeconds: bigint): { deal: Deal } | { pending: PendingJobOffer } {
    const existing = this.deals.get(id) ?? this.pending.get(id);
    if (existing) return 'dealId' in existing ? { deal: existing } : { pending: existing };
    const result = matchJobOffer(offer, [...this.resourceOffers.values()], nowSeconds);
    if (!result.matched) {
      const pending = { id, offer, reason: result.reason };
      this.pending.set(id, pending);
      return { pending };
    }
    result.resourceOffer.used += 1;
    const deal: Deal = {
      dealId: id,
      resourceOfferId: result.resourceOffer.id as Hex,
      state: 'matched',
      jobOffer: offer,
      resourceOffer: result.resourceOffer.offer,
    };
    this.deals.set(id, deal);
    return { deal };
  }

  /** Matches waiting job offers again (after a new resource offer); returns the new deals. */
  rematch(nowSeconds: bigint): Deal[] {
    const made: Deal[] = [];
    for (const pending of [...this.pending.values()]) {
      this.pending.delete(pending.id);
      const outcome = this.addJobOffer(pending.id, pending.offer, nowSeconds);
      if ('deal' in outcome) made.push(outcome.deal);
    }
    return made;
  }

  getDeal(id: Hex): Deal | undefined {
    return this.deals.get(id);
  }

  getPending(id: Hex): PendingJobOffer | undefined {
    return this.pending.get(id);
  }

  /** Moves a deal along the shared transition table; returns false when the move is not allowed. */
  advance(id: Hex, to: DealState, resultCid?: string): Deal | undefined {
    const deal = this.deals.get(id);
    if (!deal || !canTransition(deal.state, to)) return undefined;
    deal.state = to;
    if (resultCid !== undefined) deal.resultCid = resultCid;
    return deal;
  }
}
