/**
 * Getting paid: the queue of deals whose results are on chain and whose payment is due (the job creator's
 * acceptance came, or the judge window passed), sent on chain together, up to `settleBatchSize` deals in one
 * transaction after `settleDelayMs` of gathering. A deal the chain did not settle goes back to the deal
 * runner, which reads where it is now.
 */
import type { Hex } from 'viem';
import { settleResults } from '../chain/index.js';
import type { Logger } from '../lib/logger.js';
import type { SolverClient } from '../solver/client.js';
import type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';
import type { DealStore } from './deal-store.js';

export type SettlerConfig = Pick<ResourceProviderConfig, 'settleBatchSize' | 'settleDelayMs'>;

export interface SettlerComponents extends Pick<ResourceProviderComponents, 'chain' | 'domain'> {
  solver: Pick<SolverClient, 'syncDeal'>;
  /** The deal store while the provider runs; undefined once it has stopped. */
  store: () => Pick<DealStore, 'get' | 'setStage'> | undefined;
  logger: Logger;
  /** Moves a deal on from where the chain says it is. */
  advance: (dealId: Hex) => Promise<void>;
}

export interface Settler {
  /** Queues a submitted deal's settlement, with the job creator's acceptance where it came. */
  queue(dealId: Hex, acceptance: Hex | undefined): void;
  /** Settles every queued deal now. */
  flush(): Promise<void>;
  /** Resolves once the settlements being sent now are on chain. */
  idle(): Promise<void>;
}

export function createSettler(config: SettlerConfig, components: SettlerComponents): Settler {
  const { store, logger } = components;
  const deals = components.domain.dealsAddress;
  const batchSize = config.settleBatchSize ?? 20;
  /** Deals whose settlement is queued, with the job creator's acceptance where it came. */
  const toSettle = new Map<Hex, Hex | undefined>();
  let flushTimer: NodeJS.Timeout | undefined;
  let settling: Promise<void> = Promise.resolve();

  function queue(dealId: Hex, acceptance: Hex | undefined): void {
    if (store()?.get(dealId)?.stage !== 'submitted') return;
    toSettle.set(dealId, acceptance ?? toSettle.get(dealId));
    if (toSettle.size >= batchSize) void flush();
    else if (!flushTimer) flushTimer = setTimeout(() => void flush(), config.settleDelayMs ?? 0);
  }

  /** Up to settleBatchSize deals in one transaction; one at a time if a batch fails. */
  function flush(): Promise<void> {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    settling = settling.then(async () => {
      while (toSettle.size > 0 && store()) {
        const batch = [...toSettle.entries()].slice(0, batchSize).map(([dealId, acceptance]) => ({ dealId, acceptance }));
        for (const { dealId } of batch) toSettle.delete(dealId);
        try {
          const { settled } = await settleResults(components.chain, { deals, settlements: batch });
          // A deal the chain skipped (accepted or challenged by its job creator first) goes where the chain says.
          for (const { dealId } of batch) {
            if (settled.some((id) => id.toLowerCase() === dealId.toLowerCase())) store()?.setStage(dealId, 'done');
            else await components.advance(dealId).catch((e) => logger.warn({ err: e, dealId }, 'deal follow-up failed'));
          }
        } catch (error) {
          logger.warn({ err: error, deals: batch.length }, 'batch settlement failed; settling one by one');
          for (const settlement of batch) {
            await settleResults(components.chain, { deals, settlements: [settlement] }).catch((e) =>
              logger.warn({ err: e, dealId: settlement.dealId }, 'settlement failed'),
            );
            // Whatever happened, the chain says where the deal is now (a challenge may have come first).
            await components.advance(settlement.dealId).catch((e) => logger.warn({ err: e, dealId: settlement.dealId }, 'deal follow-up failed'));
          }
        }
        await Promise.all(batch.map(({ dealId }) => components.solver.syncDeal(dealId).catch(() => undefined)));
        logger.info({ deals: batch.length }, 'deals settled');
      }
    });
    return settling;
  }

  return { queue, flush, idle: () => settling };
}
