/** A deal as the solver publishes it, and the events that roles receive about deals. */
import type { Address, Hex } from 'viem';
import type { DealState } from './deal-states.js';
import type { JobOffer, ResourceOffer } from './offers.js';

export interface Deal {
  /** The job offer's EIP-712 digest, which is also the deal's id on chain. */
  dealId: Hex;
  resourceOfferId: Hex;
  state: DealState;
  jobOffer: JobOffer;
  resourceOffer: ResourceOffer;
  resultCid?: string;
  /**
   * The job creator's signed acceptance of this match (MatchAcceptance(dealId, resourceOfferId)); the provider
   * agrees the deal only with it, and the chain checks it.
   */
  matchAcceptance?: Hex;
}

export const dealEventForState = {
  matched: 'deal:matched',
  agreed: 'deal:agreed',
  'results-submitted': 'results:submitted',
  'results-accepted': 'results:accepted',
  'results-checked': 'results:challenged',
  'mediation-accepted': 'mediation:accepted',
  'mediation-rejected': 'mediation:rejected',
  'submit-timed-out': 'deal:submit-timed-out',
  'mediation-timed-out': 'deal:mediation-timed-out',
} as const satisfies Record<DealState, string>;

export type DealStateEventType = (typeof dealEventForState)[DealState];
const dealStateEventTypes = new Set<string>(Object.values(dealEventForState));

export type DealEvent =
  | { type: DealStateEventType; deal: Deal }
  | { type: 'job:unmatched'; jobOfferId: Hex; reason: string };

/** What the solver and the job creator read from the chain to check what they are told. */
export interface OnChainDealView {
  state: import('./deal-states.js').OnChainDealState;
  jobCreator: Address;
  resourceProvider: Address;
  price: bigint;
  collateral: bigint;
  mediationFee: bigint;
  /** Unix seconds until which the current state's action is allowed; after it, its timeout is. */
  deadline: bigint;
  /** Empty until results are submitted. */
  resultCid: string;
  /** The resource provider's half of the mediator draw; zero until results are submitted. */
  providerSeed: Hex;
  /** The drawn mediator; the zero address until a challenge. */
  mediator: Address;
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
    jobOffer: parseJobOffer(raw.jobOffer),
    resourceOffer: parseResourceOffer(raw.resourceOffer),
    resultCid: typeof raw.resultCid === 'string' ? raw.resultCid : undefined,
    matchAcceptance: typeof raw.matchAcceptance === 'string' && /^0x[0-9a-fA-F]*$/.test(raw.matchAcceptance) ? (raw.matchAcceptance as Hex) : undefined,
  };
}

export function parseDealEvent(value: unknown): DealEvent | undefined {
  const raw = value as { type?: string; deal?: unknown; jobOfferId?: Hex; reason?: string };
  if (raw?.type === 'job:unmatched') return { type: 'job:unmatched', jobOfferId: raw.jobOfferId!, reason: String(raw.reason) };
  if (typeof raw?.type === 'string' && dealStateEventTypes.has(raw.type)) {
    return { type: raw.type as DealStateEventType, deal: parseDeal(raw.deal) };
  }
  return undefined;
}
