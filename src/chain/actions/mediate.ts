import type { Address, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface MediateParameters {
  deals: Address;
  dealId: Hex;
  /** Whether the mediator's own result CID equals the one the provider submitted. */
  resultsCorrect: boolean;
}

export type MediateReturnType = DealWriteReturnType;

/**
 * The drawn mediator's ruling on a challenged deal, before the mediation deadline.
 * @throws ChainError, e.g. "mediate reverted: UnauthorizedCaller(dealId=…, caller=…, required=…)".
 */
export async function mediate(clients: ChainClients, args: MediateParameters): Promise<MediateReturnType> {
  const receipt = await transact(clients, 'mediate', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'mediate',
      args: [args.dealId, args.resultsCorrect],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
