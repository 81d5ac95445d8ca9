import { parseEventLogs, type Address, type Hex } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export interface SettleResultsParameters {
  deals: Address;
  /** Each deal with, where the job creator signed one, its acceptance; without, its judge window must have passed. */
  settlements: ReadonlyArray<{ dealId: Hex; acceptance?: Hex }>;
}

export type SettleResultsReturnType = DealWriteReturnType & {
  /** The deals this transaction settled; the others had left results-submitted already and were skipped. */
  settled: Hex[];
};

/**
 * Settles many deals with submitted results in one transaction: pays each resource provider and frees its
 * collateral. A deal accepted or challenged by its job creator in the meantime is skipped (not in `settled`).
 * Anyone may send it.
 * @throws ChainError, e.g. "settleResults reverted: DeadlineNotPassed(dealId=…, deadline=…, currentTime=…)".
 */
export async function settleResults(clients: ChainClients, args: SettleResultsParameters): Promise<SettleResultsReturnType> {
  const receipt = await transact(clients, 'settleResults', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'settleResults',
      args: [args.settlements.map((s) => s.dealId), args.settlements.map((s) => s.acceptance ?? '0x')],
    }),
  );
  const settled = parseEventLogs({ abi: lilypadDealsAbi, eventName: 'ResultsAccepted', logs: receipt.logs }).map((log) => log.args.dealId);
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed, settled };
}
