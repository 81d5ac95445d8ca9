import type { Address } from 'viem';
import type { LilypadPublicClient } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { toChainError } from '../errors.js';

export interface EscrowBalanceParameters {
  deals: Address;
  account: Address;
}

export interface EscrowBalanceReturnType {
  /** Withdrawable, and available to lock into new deals. */
  free: bigint;
  /** Held as payment or collateral of open deals. */
  locked: bigint;
}

export async function escrowBalance(
  client: LilypadPublicClient,
  args: EscrowBalanceParameters,
): Promise<EscrowBalanceReturnType> {
  try {
    const [free, locked] = await Promise.all([
      client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'escrowBalance', args: [args.account] }),
      client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'lockedBalance', args: [args.account] }),
    ]);
    return { free, locked };
  } catch (error) {
    throw toChainError(error, 'escrowBalance');
  }
}
