import { hexToSignature, type Address, type Hex } from 'viem';
import { secondsFromNow } from '../../lib/clock.js';
import type { ChainClients, LilypadPublicClient, LilypadWalletClient } from '../clients.js';
import { toChainError } from '../errors.js';
import { lilypadDealsAbi, lilypadTokenAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface EscrowPermit {
  owner: Address;
  amount: bigint;
  deadline: bigint;
  signature: Hex;
}

export interface SignEscrowPermitParameters {
  token: Address;
  deals: Address;
  amount: bigint;
  /** Unix seconds; default one hour from now. */
  deadline?: bigint;
}

/**
 * The holder's EIP-2612 permit for the deals contract to take `amount` LP into its escrow. It sends nothing:
 * anyone can then put it on chain with `depositWithPermit`, so a holder without gas can fund its escrow.
 */
export async function signEscrowPermit(
  walletClient: LilypadWalletClient,
  publicClient: LilypadPublicClient,
  args: SignEscrowPermitParameters,
): Promise<EscrowPermit> {
  const owner = walletClient.account.address;
  const deadline = args.deadline ?? secondsFromNow(3600);
  let nonce: bigint;
  let name: string;
  try {
    [nonce, name] = await Promise.all([
      publicClient.readContract({ address: args.token, abi: lilypadTokenAbi, functionName: 'nonces', args: [owner] }),
      publicClient.readContract({ address: args.token, abi: lilypadTokenAbi, functionName: 'name' }),
    ]);
  } catch (error) {
    throw toChainError(error, 'signEscrowPermit');
  }
  const signature = await walletClient.signTypedData({
    domain: { name, version: '1', chainId: walletClient.chain.id, verifyingContract: args.token },
    types: {
      Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    },
    primaryType: 'Permit',
    message: { owner, spender: args.deals, value: args.amount, nonce, deadline },
  });
  return { owner, amount: args.amount, deadline, signature };
}

export interface DepositWithPermitParameters {
  deals: Address;
  permit: EscrowPermit;
}

/**
 * Moves the permit holder's LP into the holder's escrow; any account may send it.
 * @throws ChainError, e.g. "depositWithPermit reverted: ERC20InsufficientAllowance(…)" for a bad permit.
 */
export async function depositWithPermit(clients: ChainClients, args: DepositWithPermitParameters): Promise<DealWriteReturnType> {
  const { v, r, s, yParity } = hexToSignature(args.permit.signature);
  const receipt = await transact(clients, 'depositWithPermit', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'depositWithPermit',
      args: [args.permit.owner, args.permit.amount, args.permit.deadline, Number(v ?? BigInt(yParity + 27)), r, s],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
