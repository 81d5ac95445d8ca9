import type { Address, Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadOnChainJobCreatorAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface BindJobOfferParameters {
  /** The LilypadOnChainJobCreator contract. */
  jobCreator: Address;
  jobId: bigint;
  /** The job offer's id (its EIP-712 digest, the id its deal will have). */
  dealId: Hex;
}

export type BindJobOfferReturnType = DealWriteReturnType;

/**
 * The bridge's binding of a job offer to its job, before the offer is posted: the contract's signature of
 * the offer is valid only while it is the job's current offer, so a refund always knows the job's deal.
 * @throws ChainError, e.g. "bindJobOffer reverted: DealAlreadyAgreed(jobId=…, dealId=…, state=…)".
 */
export async function bindJobOffer(clients: ChainClients, args: BindJobOfferParameters): Promise<BindJobOfferReturnType> {
  const receipt = await transact(clients, 'bindJobOffer', () =>
    clients.walletClient.writeContract({ address: args.jobCreator, abi: lilypadOnChainJobCreatorAbi, functionName: 'bindJobOffer', args: [args.jobId, args.dealId] }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
