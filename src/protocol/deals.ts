/** A deal as the solver publishes it, and the events that roles receive about deals. */
import type { Address, Hex } from 'viem';
import type { DealState } from './deal-states.js';
import type { JobOffer, ResourceOffer } from './offers.js';

export interface Deal {
  /** The job offer's EIP-712 digest, which is also the deal's id on chain. */
  dealId: Hex;
  resourceOfferId: Hex;
  state: DealState;
  mediator: Address;
  jobOffer: JobOffer;
  resourceOffer: ResourceOffer;
  resultCid?: string;
}

export type DealEvent =
  | { type: 'deal:matched'; deal: Deal }
  | { type: 'deal:agreed'; deal: Deal }
  | { type: 'results:submitted'; deal: Deal }
  | { type: 'results:accepted'; deal: Deal }
  | { type: 'job:unmatched'; jobOfferId: Hex; reason: string };

export const dealEventForState: Record<DealState, DealEvent['type']> = {
  matched: 'deal:matched',
  agreed: 'deal:agreed',
  'results-submitted': 'results:submitted',
  'results-accepted': 'results:accepted',
};

/** What the solver and the job creator read from the chain to check what they are told. */
export interface OnChainDealView {
  state: import('./deal-states.js').OnChainDealState;
  jobCreator: Address;
  resourceProvider: Address;
  mediator: Address;
  price: bigint;
  collateral: bigint;
  resultCid: string;
}

export type ReadDeal = (dealId: Hex) => Promise<OnChainDealView>;

import { parseJobOffer, parseResourceOffer } from './offers.js';

/** Reads a deal from the wire, re-checking that its offers' details match their signed hashes. */
export function parseDeal(value: unknown): Deal {
  const raw = value as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || typeof raw.dealId !== 'string') throw new Error('malformed deal');
  return {
    dealId: raw.dealId as Hex,
    resourceOfferId: raw.resourceOfferId as Hex,
    state: raw.state as DealState,
    mediator: raw.mediator as Address,
    jobOffer: parseJobOffer(raw.jobOffer),
    resourceOffer: parseResourceOffer(raw.resourceOffer),
    resultCid: typeof raw.resultCid === 'string' ? raw.resultCid : undefined,
  };
}

export function parseDealEvent(value: unknown): DealEvent | undefined {
  const raw = value as { type?: string; deal?: unknown; jobOfferId?: Hex; reason?: string };
  switch (raw?.type) {
    case 'deal:matched':
    case 'deal:agreed':
    case 'results:submitted':
    case 'results:accepted':
      return { type: raw.type, deal: parseDeal(raw.deal) };
    case 'job:unmatched':
      return { type: 'job:unmatched', jobOfferId: raw.jobOfferId!, reason: String(raw.reason) };
    default:
      return undefined;
  }
}
