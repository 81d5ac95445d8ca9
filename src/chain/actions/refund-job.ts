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
 * Gives a job's payment back to its client: at once when the job's deal ended without results (submit
 * timeout, mediation rejected or timed out), after the job's `refundableAt` when no offer of it was agreed;
 * never while its deal is open or once the deal paid its provider. Anyone may send it.
 * @throws ChainError, e.g. "refund reverted: TooEarlyToRefund(jobId=…, refundableAt=…)", "DealStillOpen(…)".
 */
export async function refundJob(clients: ChainClients, args: RefundJobParameters): Promise<RefundJobReturnType> {
  const receipt = await transact(clients, 'refund', () =>
    clients.walletClient.writeContract({ address: args.jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'refund', args: [args.jobId] }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
