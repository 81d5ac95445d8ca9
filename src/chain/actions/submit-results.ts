import type { Address, Hash, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';

export interface SubmitResultsParameters {
  deals: Address;
  dealId: Hex;
  /** The IPFS CID of the result directory. */
  resultCid: string;
}

export interface SubmitResultsReturnType {
  transactionHash: Hash;
}

/**
 * Posts a deal's result CID; the sender must be the deal's resource provider.
 * @throws ChainError, e.g. "submitResults reverted: InvalidDealState(dealId=…, current=results-submitted, required=agreed)".
 */
export async function submitResults(clients: ChainClients, args: SubmitResultsParameters): Promise<SubmitResultsReturnType> {
  const receipt = await transact(clients, 'submitResults', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'submitResults',
      args: [args.dealId, args.resultCid],
    }),
  );
  return { transactionHash: receipt.transactionHash };
}
