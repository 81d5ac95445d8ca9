/**
 * Funds an account on a network where we own the token: ETH for gas, LP in its wallet, and LP in its
 * escrow (deposited by the faucet, so a job creator without gas can still pay for jobs).
 */
import type { Address, Hash } from 'viem';
import { deposit } from './actions/deposit.js';
import type { LilypadPublicClient, LilypadWalletClient } from './clients.js';
import { lilypadTokenAbi } from './generated/contracts.js';
import { transact } from './transact.js';

export interface FundParameters {
  /** The token's owner (the deployer); it pays the ETH and mints the LP. */
  walletClient: LilypadWalletClient;
  publicClient: LilypadPublicClient;
  token: Address;
  deals: Address;
  to: Address;
  /** Wei of ETH to send. */
  eth?: bigint;
  /** LP (wei) to mint into `to`'s wallet. */
  lp?: bigint;
  /** LP (wei) to mint to the faucet and deposit into `to`'s escrow. */
  escrow?: bigint;
}

export interface FundReturnType {
  transactionHashes: Hash[];
}

export async function fund(params: FundParameters): Promise<FundReturnType> {
  const { walletClient, publicClient, token, deals, to } = params;
  const clients = { walletClient, publicClient };
  const transactionHashes: Hash[] = [];
  if (params.eth) {
    const eth = params.eth;
    const receipt = await transact(clients, 'fund ETH', () => walletClient.sendTransaction({ to, value: eth }));
    transactionHashes.push(receipt.transactionHash);
  }
  const mint = async (recipient: Address, amount: bigint) => {
    const receipt = await transact(clients, 'mint LP', () =>
      walletClient.writeContract({ address: token, abi: lilypadTokenAbi, functionName: 'mint', args: [recipient, amount] }),
    );
    transactionHashes.push(receipt.transactionHash);
  };
  if (params.lp) await mint(to, params.lp);
  if (params.escrow) {
    await mint(walletClient.account.address, params.escrow);
    const { transactionHash } = await deposit(clients, { deals, token, amount: params.escrow, beneficiary: to });
    transactionHashes.push(transactionHash);
  }
  return { transactionHashes };
}
