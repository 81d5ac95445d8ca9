import { parseEventLogs, type Address, type Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadOnChainJobCreatorAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface DeliverJobResultsParameters {
  /** The LilypadOnChainJobCreator contract. */
  jobCreator: Address;
  jobId: bigint;
  dealId: Hex;
  cid: string;
}

export type DeliverJobResultsReturnType = DealWriteReturnType & { delivered: boolean };

/**
 * The bridge's delivery of a job's results to the client contract that asked for it.
 * @throws ChainError, e.g. "deliverResults reverted: DealHasNoResults(dealId=…)".
 */
export async function deliverJobResults(clients: ChainClients, args: DeliverJobResultsParameters): Promise<DeliverJobResultsReturnType> {
  const receipt = await transact(clients, 'deliverResults', () =>
    clients.walletClient.writeContract({
      address: args.jobCreator,
      abi: lilypadOnChainJobCreatorAbi,
      functionName: 'deliverResults',
      args: [args.jobId, args.dealId, args.cid],
    }),
  );
  const [completed] = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobCompleted', logs: receipt.logs });
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed, delivered: completed?.args.delivered ?? false };
}
