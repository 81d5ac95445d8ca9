/** The ReadDeal that roles use to check what they are told against the chain. */
import type { Address } from 'viem';
import { getDeal, type LilypadPublicClient } from '../chain/index.js';
import type { ReadDeal } from '../protocol/deals.js';

const zero = '0x0000000000000000000000000000000000000000' as Address;

export function chainReadDeal(publicClient: LilypadPublicClient, deals: Address): ReadDeal {
  return async (dealId) => {
    const deal = await getDeal(publicClient, { deals, dealId });
    if (!deal) return { state: 'none', jobCreator: zero, resourceProvider: zero, mediator: zero, price: 0n, collateral: 0n, resultCid: '' };
    return deal;
  };
}
