/** The shape every one-transaction deal action returns. */
import type { Hash } from 'viem';

export interface DealWriteReturnType {
  transactionHash: Hash;
  gasUsed: bigint;
}
