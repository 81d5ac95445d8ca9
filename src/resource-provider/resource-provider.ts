/**
 * The resource provider: posts a signed resource offer to the solver, and for each deal it is matched
 * into, checks the job offer itself, agrees the deal on chain, runs the job, publishes the result
 * folder as a UnixFS DAG served over HTTP, and submits the result CID on chain. Then it gets paid: the
 * job creator posts its signed acceptance to `POST /api/v1/deals/:id/acceptance` on the results server, or
 * the judge window passes; either way the provider settles its deals on chain, many in one transaction.
 * It also sends the mediation timeout of its challenged deals when it is due, to free its collateral, and
 * keeps result blocks for the time its offers state, sweeping them away after (result-retention.ts).
 *
 * This file owns the wiring of the parts (see README.md) and their lifecycle: the deal store and the
 * results server are open between start and stop. Its deals live in SQLite (`dataDir/provider.db`, see
 * deal-store.ts). After a crash it reads each open deal's state from the chain and carries on: it agrees,
 * runs (again) or resubmits, settles with the acceptances it had received, and triggers the timeouts that
 * are due.
 */
import path from 'node:path';
import type { Address, Hex } from 'viem';
import { LilypadError } from '../lib/errors.js';
import type { RunningHttpServer } from '../lib/http-server.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger } from '../lib/logger.js';
import { SweepableBlockstore, type SweepResult } from '../storage/index.js';
import type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';
import { createDealChecks } from './deal-checks.js';
import { createDealIntake } from './deal-intake.js';
import { createDealRunner } from './deal-runner.js';
import { openDealStore, type DealStore } from './deal-store.js';
import { createOfferPoster } from './offer-poster.js';
import { createResultRetention } from './result-retention.js';
import { resultsApp, startResultsServer } from './results-server.js';
import { createSettler } from './settler.js';

export type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';

export interface ResourceProvider extends Service {
  readonly address: Address;
  /** Resolves when every deal taken so far has finished (submitted or failed) and queued settlements are sent. */
  idle(): Promise<void>;
  /** Sends the queued settlements now. */
  settleNow(): Promise<void>;
  /** Deals with results on chain that are not settled yet. */
  awaitingPayment(): Hex[];
  /** Removes the blocks no deal keeps any more now (see result-retention.ts). */
  sweepNow(): Promise<SweepResult>;
}

export function createResourceProvider(config: ResourceProviderConfig, components: ResourceProviderComponents): ResourceProvider {
  const logger = components.logger ?? silentLogger;
  const blockstore = components.blockstore instanceof SweepableBlockstore ? components.blockstore : new SweepableBlockstore(components.blockstore);
  const address = components.chain.walletClient.account.address;
  let store: DealStore | undefined;
  let http: RunningHttpServer | undefined;
  const openStore = (): DealStore => {
    if (!store) throw new LilypadError('the resource provider is not started', { code: 'not-started' });
    return store;
  };
  const parts = { ...components, blockstore, logger, store: openStore };

  const checks = createDealChecks(config, components);
  const offers = createOfferPoster(config, parts);
  // The settler and the deal runner hand deals to each other: a deal the chain did not settle is moved on
  // from where it is, and a deal whose payment is due is queued.
  const settler = createSettler(config, { ...parts, store: () => store, advance: (dealId) => runner.advance(dealId) });
  const runner = createDealRunner(config, { ...parts, checks, offers, settler });
  const intake = createDealIntake({ ...parts, offers, follow: (dealId) => runner.follow(dealId) });
  const app = resultsApp(config, { ...parts, store: () => store, settle: (dealId, acceptance) => settler.queue(dealId, acceptance) });
  const retention = createResultRetention(config, { ...parts, now: components.now ?? Date.now });

  const lifecycle = onceLifecycle({
    async start() {
      store = openDealStore(path.join(config.dataDir, 'provider.db'));
      retention.start();
      runner.start();
      http = await startResultsServer(config, store, app);
      await intake.start();
      await offers.start(http.url, components.ipfs?.multiaddrs());
      // Carry on with the deals that were open when the provider last stopped (or crashed).
      const open = store.open();
      if (open.length > 0) logger.info({ deals: open.length }, 'carrying on with open deals');
      for (const stored of open) runner.follow(stored.deal.dealId);
      // A fresh offer every start: the results address may have changed, and the old one's use is unknown.
      await offers.keepPosted(true);
      logger.info({ address, resultsUrl: http.url }, 'resource provider offering');
    },
    async stop() {
      intake.stop();
      // Offers stop at once, so that the deals finishing now do not post a new one.
      await Promise.all([offers.stop(), runner.stop()]);
      // Acceptances already received are worth a transaction; deals still in their judge window are not lost
      // either: they are in provider.db, and anyone can settle them once it has passed.
      await settler.flush();
      await http?.close();
      http = undefined;
      await retention.stop();
      store?.close();
      store = undefined;
    },
  });

  return {
    ...lifecycle,
    address,
    async idle() {
      await runner.idle();
      await settler.idle();
    },
    settleNow: () => settler.flush(),
    sweepNow: () => retention.sweep(),
    awaitingPayment: () => (store ? store.open().filter((d) => d.stage === 'submitted').map((d) => d.deal.dealId) : []),
  };
}
