import { parseEventLogs, type Address, type Hex } from 'viem';
import { ChainError } from '../../lib/errors.js';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi, lilypadOnChainJobCreatorAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { ChallengeResultsReturnType } from './challenge-results.js';

export interface ChallengeJobResultsParameters {
  /** The LilypadOnChainJobCreator contract: the deal's job creator. */
  jobCreator: Address;
  jobId: bigint;
  dealId: Hex;
  /** The seed whose hash the job offer carries as `mediatorSeedHash`. */
  jobCreatorSeed: Hex;
  /** The mediators both offers list (`sharedMediatorsOf`), as in the DealAgreed event. */
  candidates: readonly Address[];
  /** The provider's seed from the ResultsSubmitted event (`getDeal(…).providerSeed`). */
  providerSeed: Hex;
}

/**
 * The bridge's challenge of a job's results through the on-chain job creator (operator only; the mediation
 * fee comes from the contract's escrow); returns the drawn mediator.
 * @throws ChainError, e.g. "challengeResults reverted: DealNotOfJob(jobId=…, dealId=…, boundDealId=…)".
 */
export async function challengeJobResults(clients: ChainClients, args: ChallengeJobResultsParameters): Promise<ChallengeResultsReturnType> {
  const receipt = await transact(clients, 'challengeResults', () =>
    clients.walletClient.writeContract({
      address: args.jobCreator,
      abi: lilypadOnChainJobCreatorAbi,
      functionName: 'challengeResults',
      args: [args.jobId, args.dealId, args.jobCreatorSeed, [...args.candidates], args.providerSeed],
    }),
  );
  // The deal contract's event names the mediator it drew.
  const [challenged] = parseEventLogs({ abi: lilypadDealsAbi, eventName: 'ResultsChallenged', logs: receipt.logs });
  if (!challenged) throw new ChainError(`challengeResults: transaction ${receipt.transactionHash} emitted no ResultsChallenged event`, { code: 'internal' });
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed, mediator: challenged.args.mediator };
}
