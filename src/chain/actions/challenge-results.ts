import { parseEventLogs, type Address, type Hex } from 'viem';
import { ChainError } from '../../lib/errors.js';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface ChallengeResultsParameters {
  deals: Address;
  dealId: Hex;
  /** The seed whose hash the job offer carries as `mediatorSeedHash`. */
  jobCreatorSeed: Hex;
  /** The mediators both offers list (`sharedMediatorsOf`), as in the DealAgreed event. */
  candidates: readonly Address[];
  /** The provider's seed from the ResultsSubmitted event (`getDeal(…).providerSeed`). */
  providerSeed: Hex;
}

export type ChallengeResultsReturnType = DealWriteReturnType & { mediator: Address };

/**
 * Challenges a deal's results within the judge window (job creator only; it pays the mediation fee from its
 * escrow) and returns the drawn mediator.
 * @throws ChainError, e.g. "challengeResults reverted: DeadlinePassed(dealId=…, deadline=…, currentTime=…)".
 */
export async function challengeResults(clients: ChainClients, args: ChallengeResultsParameters): Promise<ChallengeResultsReturnType> {
  const receipt = await transact(clients, 'challengeResults', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'challengeResults',
      args: [args.dealId, args.jobCreatorSeed, [...args.candidates], args.providerSeed],
    }),
  );
  const [challenged] = parseEventLogs({ abi: lilypadDealsAbi, eventName: 'ResultsChallenged', logs: receipt.logs });
  if (!challenged) throw new ChainError(`challengeResults: transaction ${receipt.transactionHash} emitted no ResultsChallenged event`, { code: 'internal' });
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed, mediator: challenged.args.mediator };
}
