import type { Address, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface TimeoutSubmitResultsParameters {
  deals: Address;
  dealId: Hex;
}

export type TimeoutSubmitResultsReturnType = DealWriteReturnType;

/**
 * Ends an agreed deal whose submit deadline has passed without results: the job creator gets its price
 * back and the provider's collateral. Anyone may send it.
 * @throws ChainError, e.g. "timeoutSubmitResults reverted: DeadlineNotPassed(dealId=…, deadline=…, currentTime=…)".
 */
export async function timeoutSubmitResults(
  clients: ChainClients,
  args: TimeoutSubmitResultsParameters,
): Promise<TimeoutSubmitResultsReturnType> {
  const receipt = await transact(clients, 'timeoutSubmitResults', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'timeoutSubmitResults',
      args: [args.dealId],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
