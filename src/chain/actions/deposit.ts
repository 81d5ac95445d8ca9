import type { Address, Hash } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi, lilypadTokenAbi } from '../generated/contracts.js';
import { toChainError } from '../errors.js';
import { transact } from '../transact.js';

export interface DepositParameters {
  deals: Address;
  token: Address;
  /** LP (wei) to move from the sender's wallet into escrow. */
  amount: bigint;
  /** Credit this account's escrow instead of the sender's (`depositFor`). */
  beneficiary?: Address;
}

export interface DepositReturnType {
  transactionHash: Hash;
  gasUsed: bigint;
}

/**
 * Deposits LP into escrow, approving the deals contract first when its allowance is too small.
 * @throws ChainError, e.g. "deposit reverted: ERC20InsufficientBalance(…)".
 */
export async function deposit(clients: ChainClients, args: DepositParameters): Promise<DepositReturnType> {
  const { publicClient, walletClient } = clients;
  const owner = walletClient.account.address;
  let allowance: bigint;
  try {
    allowance = await publicClient.readContract({
      address: args.token,
      abi: lilypadTokenAbi,
      functionName: 'allowance',
      args: [owner, args.deals],
    });
  } catch (error) {
    throw toChainError(error, 'deposit');
  }
  if (allowance < args.amount) {
    await transact(clients, 'approve', () =>
      walletClient.writeContract({
        address: args.token,
        abi: lilypadTokenAbi,
        functionName: 'approve',
        args: [args.deals, args.amount],
      }),
    );
  }
  const receipt = await transact(clients, args.beneficiary ? 'depositFor' : 'deposit', () =>
    args.beneficiary
      ? walletClient.writeContract({
          address: args.deals,
          abi: lilypadDealsAbi,
          functionName: 'depositFor',
          args: [args.beneficiary, args.amount],
        })
      : walletClient.writeContract({
          address: args.deals,
          abi: lilypadDealsAbi,
          functionName: 'deposit',
          args: [args.amount],
        }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
