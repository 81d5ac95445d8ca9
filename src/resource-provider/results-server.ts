/**
 * The provider's HTTP server, whose address is signed into its offers: result blocks served trustless-gateway
 * style (a result swept after its keeping time is answered 404 with until when it was kept), and `POST /api/v1/deals/:id/acceptance`, where a job creator hands in its signed acceptance of a
 * deal's results for the provider to settle with. It listens on the port it had last time when none is set.
 */
import { Hono } from 'hono';
import { isHex, type Hex } from 'viem';
import type { ChainClients } from '../chain/index.js';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { acceptanceTypes, offerDomain } from '../protocol/eip712.js';
import { CID } from 'multiformats/cid';
import { addGatewayRoutes } from '../storage/index.js';
import type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';
import type { DealStore } from './deal-store.js';
import { resultKeptUntil, type ResultRetentionConfig } from './result-retention.js';

export type ResultsServerConfig = Pick<ResourceProviderConfig, 'host' | 'port'>;

export interface ResultsServerComponents extends Pick<ResourceProviderComponents, 'domain' | 'blockstore'> {
  chain: Pick<ChainClients, 'publicClient'>;
  /** The deal store while the provider runs; undefined once it has stopped. */
  store: () => DealStore | undefined;
  /** Queues the settlement of a deal whose results were accepted. */
  settle: (dealId: Hex, acceptance: Hex) => void;
}

/** The gateway and acceptance routes. */
export function resultsApp(config: ResultRetentionConfig, components: ResultsServerComponents): Hono {
  const { store } = components;
  const app = new Hono();
  // Before the gateway: a result that is gone because its keeping time passed is said to be, with the date.
  app.get('/ipfs/:cid', async (c, next) => {
    const cid = safeParse(c.req.param('cid'));
    const endedAt = cid && !(await components.blockstore.has(cid)) ? store()?.resultEndedAt(cid.toV1().toString()) : undefined;
    if (endedAt === undefined) return next();
    const until = new Date(resultKeptUntil(config, endedAt)).toISOString();
    return c.json({ error: { code: 'result-expired', message: `the provider kept this result until ${until}; it is no longer held here` } }, 404);
  });
  addGatewayRoutes(app, { blockstore: components.blockstore });
  // The job creator's gasless acceptance: a signature the provider puts on chain with its settlement.
  app.post('/api/v1/deals/:id/acceptance', async (c) => {
    const dealId = c.req.param('id').toLowerCase() as Hex;
    const stored = store()?.get(dealId);
    if (!stored || stored.stage === 'done' || stored.stage === 'failed' || stored.stage === 'taken') {
      return c.json({ error: 'no deal of this provider is waiting for acceptance' }, 404);
    }
    const body = (await c.req.json().catch(() => ({}))) as { signature?: unknown };
    const signature = isHex(body.signature) ? body.signature : undefined;
    const valid =
      signature !== undefined &&
      // Through the chain client, so that a contract job creator's (ERC-1271) acceptance counts too.
      (await components.chain.publicClient.verifyTypedData({
        address: stored.deal.jobOffer.terms.jobCreator,
        domain: offerDomain(components.domain.chainId, components.domain.dealsAddress),
        types: acceptanceTypes,
        primaryType: 'ResultsAcceptance',
        message: { dealId },
        signature,
      }).catch(() => false));
    if (!valid) return c.json({ error: 'signature is not the job creator’s acceptance of this deal' }, 401);
    // Kept before it is answered: an acceptance received is settled even after a crash.
    store()?.setAcceptance(dealId, signature);
    components.settle(dealId, signature);
    return c.json({ dealId, queued: true }, 202);
  });
  return app;
}

/** Starts the results server; `store` must be open. */
export async function startResultsServer(config: ResultsServerConfig, store: DealStore, app: Hono): Promise<RunningHttpServer> {
  // The results address is in every deal's signed offer, so after a restart it must be the same: with no
  // port configured, the one used last time is taken again when it is free.
  const lastPort = Number(store.getSetting('results-port') ?? 0);
  const http = config.port || !lastPort
    ? await listen(app, { host: config.host, port: config.port })
    : await listen(app, { host: config.host, port: lastPort }).catch(() => listen(app, { host: config.host, port: 0 }));
  store.setSetting('results-port', String(new URL(http.url).port));
  return http;
}

function safeParse(text: string): CID | undefined {
  try {
    return CID.parse(text);
  } catch {
    return undefined;
  }
}
