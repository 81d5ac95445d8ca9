import type { Address, Hex } from 'viem';
import { randomSeed } from '../../protocol/mediation.js';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface SubmitResultsParameters {
  deals: Address;
  dealId: Hex;
  /** The IPFS CID of the result directory. */
  resultCid: string;
  /** The provider's half of the mediator draw; fresh random bytes unless given. */
  providerSeed?: Hex;
}

export type SubmitResultsReturnType = DealWriteReturnType & { providerSeed: Hex };

/**
 * Posts a deal's result CID; the sender must be the deal's resource provider, before the submit deadline.
 * @throws ChainError, e.g. "submitResults reverted: InvalidDealState(dealId=…, current=results-submitted, required=agreed)".
 */
export async function submitResults(clients: ChainClients, args: SubmitResultsParameters): Promise<SubmitResultsReturnType> {
  const providerSeed = args.providerSeed ?? randomSeed();
  const receipt = await transact(clients, 'submitResults', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'submitResults',
      args: [args.dealId, args.resultCid, providerSeed],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed, providerSeed };
}
