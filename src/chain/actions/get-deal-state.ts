import type { Address, Hex, PublicClient } from 'viem';
import { dealStateName, type ChainDealState } from '../deal-state.js';
import { toChainError } from '../errors.js';
import { lilypadDealsAbi } from '../generated/contracts.js';

export interface GetDealStateParameters {
  deals: Address;
  dealId: Hex;
}

/**
 * Where a deal is on chain, `none` when no deal has this id: one read, where `getDeal` may need a second
 * for the result CID. For listing many deals at once (`lilypad jobs`).
 */
export async function getDealState(client: Pick<PublicClient, 'readContract'>, args: GetDealStateParameters): Promise<ChainDealState> {
  try {
    const deal = await client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'getDeal', args: [args.dealId] });
    return dealStateName(deal.state);
  } catch (error) {
    throw toChainError(error, 'getDealState');
  }
}
