import type { Address, Hash } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';

export interface WithdrawParameters {
  deals: Address;
  /** LP (wei) of the sender's free escrow to send back to the sender. */
  amount: bigint;
}

export interface WithdrawReturnType {
  transactionHash: Hash;
  gasUsed: bigint;
}

/** @throws ChainError, e.g. "withdraw reverted: InsufficientEscrow(account=…, needed=…, available=…)". */
export async function withdraw(clients: ChainClients, args: WithdrawParameters): Promise<WithdrawReturnType> {
  const receipt = await transact(clients, 'withdraw', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'withdraw',
      args: [args.amount],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
