/**
 * The mediator. For now it watches the chain for deals that name it, so it knows what it may be asked
 * to judge; re-running challenged jobs and ruling comes with the challenge path of the deal contract.
 */
import type { Address, Hex } from 'viem';
import { lilypadDealsAbi, type LilypadPublicClient } from '../chain/index.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';

export interface MediatorConfig {
  address: Address;
}

export interface MediatorComponents {
  publicClient: LilypadPublicClient;
  deals: Address;
  logger?: Logger;
}

export interface Mediator extends Service {
  /** Deals agreed with this mediator, as seen on chain. */
  watchedDeals(): Hex[];
}

export function createMediator(config: MediatorConfig, components: MediatorComponents): Mediator {
  const logger = components.logger ?? silentLogger;
  const watched = new Set<Hex>();
  let unwatch: (() => void) | undefined;
  const lifecycle = onceLifecycle({
    async start() {
      unwatch = components.publicClient.watchContractEvent({
        address: components.deals,
        abi: lilypadDealsAbi,
        eventName: 'DealAgreed',
        onLogs: (logs) => {
          for (const log of logs) {
            if (log.args.mediator?.toLowerCase() !== config.address.toLowerCase() || !log.args.dealId) continue;
            watched.add(log.args.dealId);
            logger.info({ dealId: log.args.dealId }, 'watching deal');
          }
        },
        onError: (error) => logger.warn({ err: error }, 'watching the chain failed; retrying'),
      });
    },
    async stop() {
      unwatch?.();
      unwatch = undefined;
    },
  });
  return { ...lifecycle, watchedDeals: () => [...watched] };
}
