import type { Address, Hex } from 'viem';
import type { LilypadPublicClient } from '../clients.js';
import { dealStateName, type ChainDealState } from '../deal-state.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { toChainError } from '../errors.js';

export interface GetDealParameters {
  deals: Address;
  dealId: Hex;
}

export interface ChainDeal {
  dealId: Hex;
  jobCreator: Address;
  resourceProvider: Address;
  mediator: Address;
  price: bigint;
  collateral: bigint;
  state: Exclude<ChainDealState, 'none'>;
  /** Unix seconds of the block that agreed the deal. */
  agreedAt: bigint;
  /** Empty until results are submitted. */
  resultCid: string;
}

/** The deal as stored on chain, or null when no deal has this id. */
export async function getDeal(client: LilypadPublicClient, args: GetDealParameters): Promise<ChainDeal | null> {
  let deal;
  try {
    deal = await client.readContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'getDeal',
      args: [args.dealId],
    });
  } catch (error) {
    throw toChainError(error, 'getDeal');
  }
  const state = dealStateName(deal.state);
  if (state === 'none') return null;
  return {
    dealId: args.dealId,
    jobCreator: deal.jobCreator,
    resourceProvider: deal.resourceProvider,
    mediator: deal.mediator,
    price: deal.price,
    collateral: deal.collateral,
    state,
    agreedAt: deal.agreedAt,
    resultCid: deal.resultCid,
  };
}
