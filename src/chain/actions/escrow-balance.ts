import type { Address } from 'viem';
import type { LilypadPublicClient } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { toChainError } from '../errors.js';

export interface EscrowBalanceParameters {
  deals: Address;
  account: Address;
}

export interface EscrowBalanceReturnType {
  /** Withdrawable, and available to lock into new deals. What open deals hold is in each deal. */
  free: bigint;
}

export async function escrowBalance(
  client: LilypadPublicClient,
  args: EscrowBalanceParameters,
): Promise<EscrowBalanceReturnType> {
  try {
    const free = await client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'escrowBalance', args: [args.account] });
    return { free };
  } catch (error) {
    throw toChainError(error, 'escrowBalance');
  }
}
