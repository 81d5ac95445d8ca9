/** The ReadDeal that roles use to check what they are told against the chain. */
import { zeroAddress, zeroHash, type Address } from 'viem';
import { getDeal, type LilypadPublicClient } from '../chain/index.js';
import type { ReadDeal } from '../protocol/deals.js';


export function chainReadDeal(publicClient: LilypadPublicClient, deals: Address): ReadDeal {
  return async (dealId) => {
    const deal = await getDeal(publicClient, { deals, dealId });
    if (!deal) {
      return {
        state: 'none',
        jobCreator: zeroAddress,
        resourceProvider: zeroAddress,
        price: 0n,
        collateral: 0n,
        mediationFee: 0n,
        deadline: 0n,
        resultCid: '',
        providerSeed: zeroHash,
        mediator: zeroAddress,
      };
    }
    return deal;
  };
}
