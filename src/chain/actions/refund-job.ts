import type { Address } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadOnChainJobCreatorAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface RefundJobParameters {
  /** The LilypadOnChainJobCreator contract. */
  jobCreator: Address;
  jobId: bigint;
}

export type RefundJobReturnType = DealWriteReturnType;

/**
 * Gives a job's payment back to its client: after the job timeout, or at once when the mediator rejected the
 * results of the job's challenged deal. Anyone may send it.
 * @throws ChainError, e.g. "refund reverted: TooEarlyToRefund(jobId=…, refundableAt=…)".
 */
export async function refundJob(clients: ChainClients, args: RefundJobParameters): Promise<RefundJobReturnType> {
  const receipt = await transact(clients, 'refund', () =>
    clients.walletClient.writeContract({ address: args.jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refund', args: [args.jobId] }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
