import { zeroAddress, zeroHash, type Address, type Hex } from 'viem';
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
  price: bigint;
  collateral: bigint;
  mediationFee: bigint;
  state: Exclude<ChainDealState, 'none'>;
  /** Unix seconds until which the current state's action is allowed; after it, its timeout is. */
  deadline: bigint;
  judgeWindow: bigint;
  mediationTimeout: bigint;
  /** Empty until results are submitted (read from the ResultsSubmitted log of `resultsBlock`). */
  resultCid: string;
  /** The provider's half of the mediator draw; zero until results are submitted. */
  providerSeed: Hex;
  /** The drawn mediator; the zero address until a challenge. */
  mediator: Address;
}

/** The deal as stored on chain, or null when no deal has this id. */
export async function getDeal(client: LilypadPublicClient, args: GetDealParameters): Promise<ChainDeal | null> {
  try {
    const deal = await client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'getDeal', args: [args.dealId] });
    const state = dealStateName(deal.state);
    if (state === 'none') return null;
    let resultCid = '';
    let providerSeed: Hex = zeroHash;
    if (deal.resultsBlock > 0n) {
      const [submitted] = await client.getContractEvents({
        address: args.deals,
        abi: lilypadDealsAbi,
        eventName: 'ResultsSubmitted',
        args: { dealId: args.dealId },
        fromBlock: deal.resultsBlock,
        toBlock: deal.resultsBlock,
      });
      resultCid = submitted?.args.resultCid ?? '';
      providerSeed = submitted?.args.providerSeed ?? zeroHash;
    }
    return {
      dealId: args.dealId,
      jobCreator: deal.jobCreator,
      resourceProvider: deal.resourceProvider,
      price: deal.price,
      collateral: deal.collateral,
      mediationFee: deal.mediationFee,
      state,
      deadline: BigInt(deal.deadline),
      judgeWindow: BigInt(deal.judgeWindow),
      mediationTimeout: BigInt(deal.mediationTimeout),
      resultCid,
      providerSeed,
      mediator: deal.mediator === zeroAddress ? zeroAddress : deal.mediator,
    };
  } catch (error) {
    throw toChainError(error, 'getDeal');
  }
}
