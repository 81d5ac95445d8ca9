/**
 * The solver: takes signed offers over HTTP, matches them (matcher.ts), and tells the parties about
 * their deals over WebSocket. It is a matchmaker, not a trusted party: it checks every signature, and
 * it learns that a deal moved on by reading the chain, not by taking anyone's word for it.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Hex } from 'viem';
import { WebSocketServer, type WebSocket } from 'ws';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { pathBetween } from '../protocol/deal-states.js';
import { dealEventForState, type Deal, type DealEvent, type ReadDeal } from '../protocol/deals.js';
import {
  jobOfferId,
  parseJobOffer,
  parseResourceOffer,
  resourceOfferId,
  toWire,
  verifyJobOfferSignature,
  verifyResourceOfferSignature,
  type OfferDomain,
  type SignatureVerifier,
} from '../protocol/offers.js';
import { OrderBook } from './order-book.js';

export interface SolverConfig {
  host?: string;
  port?: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

export interface SolverComponents {
  domain: OfferDomain;
  readDeal: ReadDeal;
  /** Checks contract signers (ERC-1271) on chain; without it only plain keys can sign offers. */
  signatureVerifier?: SignatureVerifier;
  logger?: Logger;
  now?: () => bigint;
}

export interface Solver extends Service {
  /** http://host:port, once started. */
  readonly url: string;
}

type Subscription = { jobOffer: string } | { resourceProvider: string };

export function createSolver(config: SolverConfig, components: SolverComponents): Solver {
  const logger = components.logger ?? silentLogger;
  const now = components.now ?? (() => BigInt(Math.floor(Date.now() / 1000)));
  const book = new OrderBook();
  const subscribers = new Map<WebSocket, Subscription[]>();
  let http: RunningHttpServer | undefined;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  function interested(subscriptions: Subscription[], deal: Deal | undefined, jobOfferIdOfEvent: string): boolean {
    return subscriptions.some((s) =>
      'jobOffer' in s
        ? s.jobOffer.toLowerCase() === jobOfferIdOfEvent.toLowerCase()
        : deal !== undefined && s.resourceProvider.toLowerCase() === deal.resourceOffer.terms.resourceProvider.toLowerCase(),
    );
  }

  function publish(event: DealEvent): void {
    const deal = 'deal' in event ? event.deal : undefined;
    const id = deal ? deal.dealId : (event as { jobOfferId: string }).jobOfferId;
    const message = JSON.stringify(toWire(event));
    for (const [socket, subscriptions] of subscribers) {
      if (interested(subscriptions, deal, id) && socket.readyState === socket.OPEN) socket.send(message);
    }
    logger.info({ event: event.type, id }, 'published');
  }

  /** Catches the solver's view of a deal up with the chain, one allowed step at a time. */
  async function syncDeal(dealId: Hex): Promise<Deal | undefined> {
    const deal = book.getDeal(dealId);
    if (!deal) return undefined;
    const onChain = await components.readDeal(dealId);
    if (onChain.state === 'none') return deal;
    // Walk the shared transition table, so that every state the deal passed through is published.
    for (const next of pathBetween(deal.state, onChain.state) ?? []) {
      book.advance(dealId, next, next === 'results-submitted' ? onChain.resultCid : undefined);
      publish({ type: dealEventForState[next], deal } as DealEvent);
    }
    return deal;
  }

  const app = new Hono();
  app.use('*', bodyLimit({
    maxSize: config.maxBodyBytes ?? 256 * 1024,
    onError: (c) => c.json({ error: 'request body too large' }, 413),
  }));
  app.onError((error, c) => {
    logger.error({ err: error }, 'request failed');
    return c.json({ error: 'internal error' }, 500);
  });

  const readJson = async (request: Request): Promise<unknown> => {
    try {
      return await request.json();
    } catch {
      return undefined;
    }
  };

  app.post('/api/v1/resource-offers', async (c) => {
    let offer;
    try {
      offer = parseResourceOffer(await readJson(c.req.raw));
    } catch (error) {
      return c.json({ error: (error as Error).message }, 400);
    }
    if (offer.terms.expiry <= now()) return c.json({ error: 'resource offer has expired' }, 400);
    if (!(await verifyResourceOfferSignature(components.domain, offer, components.signatureVerifier))) {
      return c.json({ error: 'resource offer signature does not match resourceProvider' }, 401);
    }
    const id = resourceOfferId(components.domain, offer.terms);
    book.addResourceOffer(id, offer);
    for (const deal of book.rematch(now())) publish({ type: 'deal:matched', deal });
    return c.json({ id }, 201);
  });

  app.post('/api/v1/job-offers', async (c) => {
    let offer;
    try {
      offer = parseJobOffer(await readJson(c.req.raw));
    } catch (error) {
      return c.json({ error: (error as Error).message }, 400);
    }
    if (!(await verifyJobOfferSignature(components.domain, offer, components.signatureVerifier))) {
      return c.json({ error: 'job offer signature does not match jobCreator' }, 401);
    }
    const id = jobOfferId(components.domain, offer.terms);
    const outcome = book.addJobOffer(id, offer, now());
    if ('deal' in outcome) {
      publish({ type: 'deal:matched', deal: outcome.deal });
      return c.json({ id, state: outcome.deal.state, deal: toWire(outcome.deal) }, 201);
    }
    publish({ type: 'job:unmatched', jobOfferId: id, reason: outcome.pending.reason });
    return c.json({ id, state: 'pending', reason: outcome.pending.reason }, 202);
  });

  app.get('/api/v1/job-offers/:id', (c) => {
    const id = c.req.param('id').toLowerCase() as Hex;
    const deal = book.getDeal(id);
    if (deal) return c.json({ id, state: deal.state, deal: toWire(deal) });
    const pending = book.getPending(id);
    if (pending) return c.json({ id, state: 'pending', reason: pending.reason });
    return c.json({ error: `no job offer ${id}` }, 404);
  });

  app.get('/api/v1/deals/:id', (c) => {
    const deal = book.getDeal(c.req.param('id').toLowerCase() as Hex);
    return deal ? c.json(toWire(deal)) : c.json({ error: 'no such deal' }, 404);
  });

  // Anyone may ask the solver to look at the chain again for a deal; it believes only the chain.
  app.post('/api/v1/deals/:id/sync', async (c) => {
    const deal = await syncDeal(c.req.param('id').toLowerCase() as Hex);
    return deal ? c.json(toWire(deal)) : c.json({ error: 'no such deal' }, 404);
  });

  wss.on('connection', (socket) => {
    subscribers.set(socket, []);
    socket.on('message', (data) => {
      let message: { subscribe?: Subscription };
      try {
        message = JSON.parse(String(data));
      } catch {
        socket.send(JSON.stringify({ type: 'error', error: 'messages must be JSON' }));
        return;
      }
      const subscription = message.subscribe;
      const valid =
        subscription &&
        (('jobOffer' in subscription && /^0x[0-9a-fA-F]{64}$/.test(subscription.jobOffer)) ||
          ('resourceProvider' in subscription && /^0x[0-9a-fA-F]{40}$/.test(subscription.resourceProvider)));
      if (!valid) {
        socket.send(JSON.stringify({ type: 'error', error: 'expected {"subscribe": {"jobOffer": ID}} or {"subscribe": {"resourceProvider": ADDRESS}}' }));
        return;
      }
      subscribers.get(socket)?.push(subscription);
      socket.send(JSON.stringify({ type: 'subscribed', subscription }));
      // A late subscriber gets the current state, so no event is lost between posting and listening.
      if ('jobOffer' in subscription) {
        const deal = book.getDeal(subscription.jobOffer.toLowerCase() as Hex);
        if (deal) socket.send(JSON.stringify(toWire({ type: dealEventForState[deal.state], deal })));
      }
    });
    socket.on('close', () => subscribers.delete(socket));
    socket.on('error', () => subscribers.delete(socket));
  });

  const lifecycle = onceLifecycle({
    async start() {
      http = await listen(app, { host: config.host, port: config.port });
      http.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (new URL(request.url ?? '/', 'http://solver').pathname !== '/api/v1/events') {
          socket.destroy();
          return;
        }
        wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
      });
      logger.info({ url: http.url }, 'solver listening');
    },
    async stop() {
      for (const socket of subscribers.keys()) socket.terminate();
      subscribers.clear();
      await http?.close();
      http = undefined;
    },
  });

  return {
    ...lifecycle,
    get url() {
      if (!http) throw new Error('solver is not started');
      return http.url;
    },
  };
}
