import type { Address, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface AcceptResultsParameters {
  deals: Address;
  dealId: Hex;
}

export type AcceptResultsReturnType = DealWriteReturnType;

/**
 * Accepts a deal's results from the job creator's own account (it pays the gas; `signResultsAcceptance`
 * plus `settleResults` by the provider is the gasless way): pays the resource provider and frees its collateral.
 * @throws ChainError, e.g. "acceptResults reverted: UnauthorizedCaller(dealId=…, caller=…, required=…)".
 */
export async function acceptResults(clients: ChainClients, args: AcceptResultsParameters): Promise<AcceptResultsReturnType> {
  const receipt = await transact(clients, 'acceptResults', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'acceptResults',
      args: [args.dealId],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
