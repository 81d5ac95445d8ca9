import type { Address, Hash, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';

export interface AcceptResultsParameters {
  deals: Address;
  dealId: Hex;
}

export interface AcceptResultsReturnType {
  transactionHash: Hash;
}

/**
 * Accepts a deal's results: pays the resource provider and frees its collateral. The sender must be the
 * deal's job creator.
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
  return { transactionHash: receipt.transactionHash };
}
