import type { Address, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface TimeoutMediationParameters {
  deals: Address;
  dealId: Hex;
}

export type TimeoutMediationReturnType = DealWriteReturnType;

/**
 * Ends a challenged deal whose mediator did not rule in time: the job creator gets price and fee back, the
 * provider its collateral. Anyone may send it.
 * @throws ChainError, e.g. "timeoutMediation reverted: InvalidDealState(dealId=…, current=…, required=results-checked)".
 */
export async function timeoutMediation(clients: ChainClients, args: TimeoutMediationParameters): Promise<TimeoutMediationReturnType> {
  const receipt = await transact(clients, 'timeoutMediation', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'timeoutMediation',
      args: [args.dealId],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
