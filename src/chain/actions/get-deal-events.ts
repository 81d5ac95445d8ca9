import type { Address, Hex } from 'viem';
import type { LilypadPublicClient } from '../clients.js';
import { dealStateName, type ChainDealState } from '../deal-state.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { toChainError } from '../errors.js';

export interface GetDealEventsParameters {
  deals: Address;
  fromBlock: bigint;
  toBlock: bigint;
}

/** Where a log sits on chain, for ordering and for the block's time. */
interface LogPlace {
  blockNumber: bigint;
  logIndex: number;
}

/** A deal agreed on chain, with the terms the contract stored. */
export type DealAgreedEvent = LogPlace & {
  type: 'agreed';
  dealId: Hex;
  jobCreator: Address;
  resourceProvider: Address;
  price: bigint;
  collateral: bigint;
};

/** A deal that moved on to `state` (its results submitted, accepted, challenged, ruled on, or timed out). */
export type DealMovedEvent = LogPlace & { type: 'moved'; dealId: Hex; state: Exclude<ChainDealState, 'none' | 'agreed'>; resultCid?: string };

export type DealEventLog = DealAgreedEvent | DealMovedEvent;

/**
 * The deal contract's deal events in a block range (both ends included), in chain order: what a reader
 * needs to know every deal's terms and state without asking anyone but the chain. Deposits and
 * withdrawals are left out.
 */
export async function getDealEvents(client: LilypadPublicClient, args: GetDealEventsParameters): Promise<DealEventLog[]> {
  try {
    const logs = await client.getContractEvents({ address: args.deals, abi: lilypadDealsAbi, fromBlock: args.fromBlock, toBlock: args.toBlock });
    const events: DealEventLog[] = [];
    for (const log of logs) {
      if (log.blockNumber === null || log.logIndex === null) continue; // pending logs are not the chain's yet
      const place = { blockNumber: log.blockNumber, logIndex: log.logIndex };
      switch (log.eventName) {
        case 'DealAgreed': {
          const { dealId, jobCreator, resourceProvider, price, collateral } = log.args;
          events.push({ ...place, type: 'agreed', dealId: dealId!, jobCreator: jobCreator!, resourceProvider: resourceProvider!, price: price!, collateral: collateral! });
          break;
        }
        case 'ResultsSubmitted':
          events.push({ ...place, type: 'moved', dealId: log.args.dealId!, state: 'results-submitted', resultCid: log.args.resultCid! });
          break;
        case 'ResultsAccepted':
          events.push({ ...place, type: 'moved', dealId: log.args.dealId!, state: 'results-accepted' });
          break;
        case 'ResultsChallenged':
          events.push({ ...place, type: 'moved', dealId: log.args.dealId!, state: 'results-checked' });
          break;
        case 'MediationRuled':
          events.push({ ...place, type: 'moved', dealId: log.args.dealId!, state: log.args.resultsCorrect ? 'mediation-accepted' : 'mediation-rejected' });
          break;
        case 'DealTimedOut': {
          const state = dealStateName(Number(log.args.state));
          if (state === 'submit-timed-out' || state === 'mediation-timed-out') events.push({ ...place, type: 'moved', dealId: log.args.dealId!, state });
          break;
        }
      }
    }
    return events.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
  } catch (error) {
    throw toChainError(error, 'getDealEvents');
  }
}
