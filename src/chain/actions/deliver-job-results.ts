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
  const call = { address: args.jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'deliverResults', args: [args.jobId, args.dealId, args.cid] } as const;
  const receipt = await transact(clients, 'deliverResults', async () => {
    // The contract refuses to start the client's callback with less than its whole allowance
    // (RESULTS_CALLBACK_GAS), so the node's estimate covers it; the headroom is for state that changes in
    // between (a warm slot turned cold). Unused gas is not paid for.
    const estimate = await clients.publicClient.estimateContractGas({ ...call, account: clients.walletClient.account });
    return await clients.walletClient.writeContract({ ...call, gas: (estimate * 3n) / 2n });
  });
  const [completed] = parseEventLogs({ abi: lilypadOnChainJobCreatorAbi, eventName: 'JobCompleted', logs: receipt.logs });
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed, delivered: completed?.args.delivered ?? false };
}
