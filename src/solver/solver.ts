/**
 * The solver: takes signed offers over HTTP, matches them (matcher.ts), keeps its book in SQLite
 * (order-book.ts), and tells each party about its own deals over WebSocket. It is a matchmaker, not a
 * trusted party: it checks every signature, it learns that a deal moved on by reading the chain, not by
 * taking anyone's word for it, and it tells a subscriber only what the subscriber has proven it may see.
 *
 * Every write is signed by the party it speaks for and can be used once: offers carry their own nonce and
 * expiry (and a used or expired offer posted again is refused); other writes and subscriptions are
 * signed requests (requests.ts) whose nonces the solver spends. Requests are rate-limited per address
 * once signed and per IP otherwise; a subscriber that does not read its events is dropped.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Address, Hex } from 'viem';
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
  verifyMatchAcceptance,
  verifyResourceOfferSignature,
  type OfferDomain,
  type SignatureVerifier,
} from '../protocol/offers.js';
import { OrderBook } from './order-book.js';
import { RateLimiter, type RateLimit } from './rate-limit.js';
import { checkSolverRequest, parseSolverRequest, type SolverRequest } from './requests.js';

export interface SolverConfig {
  host?: string;
  port?: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** The SQLite file of the book; `:memory:` (the default) keeps nothing across a restart. */
  dbPath?: string;
  /** Signed requests per address, and unsigned or refused requests per IP. */
  rateLimits?: { perAddress?: RateLimit; perIp?: RateLimit };
  /** WebSocket subscribers at once; more are refused with 503. */
  maxSubscribers?: number;
  /** TCP connections at once (HTTP and WebSocket); more are closed at once. */
  maxConnections?: number;
  /** Bytes queued for one subscriber that is not reading; past this it is disconnected. */
  maxSendBufferBytes?: number;
}

export interface SolverComponents {
  domain: OfferDomain;
  readDeal: ReadDeal;
  /** Checks contract signers (ERC-1271) on chain; without it only plain keys can sign. */
  signatureVerifier?: SignatureVerifier;
  logger?: Logger;
  now?: () => bigint;
}

export interface Solver extends Service {
  /** http://host:port, once started. */
  readonly url: string;
}

export const solverDefaults = {
  maxBodyBytes: 256 * 1024,
  perAddress: { rate: 50, burst: 200 },
  perIp: { rate: 100, burst: 400 },
  maxSubscribers: 1024,
  maxConnections: 4096,
  maxSendBufferBytes: 1024 * 1024,
  maxSubscriptionsPerSocket: 64,
};

interface Subscriber {
  socket: WebSocket;
  /** The party the subscriber proved it is. */
  party: string;
}

type Subscription = { jobOffer: Hex } | { resourceProvider: Address };

function clientIp(c: Context): string {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? 'unknown';
}

export function createSolver(config: SolverConfig, components: SolverComponents): Solver {
  const logger = components.logger ?? silentLogger;
  const now = components.now ?? (() => BigInt(Math.floor(Date.now() / 1000)));
  const maxSendBuffer = config.maxSendBufferBytes ?? solverDefaults.maxSendBufferBytes;
  const maxSubscribers = config.maxSubscribers ?? solverDefaults.maxSubscribers;
  const perAddress = new RateLimiter(config.rateLimits?.perAddress ?? solverDefaults.perAddress);
  const perIp = new RateLimiter(config.rateLimits?.perIp ?? solverDefaults.perIp);
  let book: OrderBook | undefined;
  let http: RunningHttpServer | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  /** Subscribers by what they listen to: `job:<id>` or `rp:<address>`, lower case. */
  const listeners = new Map<string, Set<Subscriber>>();
  const sockets = new Map<WebSocket, { ip: string; keys: Set<string> }>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  const openBook = (): OrderBook => {
    if (!book) throw new Error('solver is not started');
    return book;
  };

  function dropSocket(socket: WebSocket): void {
    const entry = sockets.get(socket);
    if (!entry) return;
    sockets.delete(socket);
    for (const key of entry.keys) {
      const set = listeners.get(key);
      if (!set) continue;
      for (const subscriber of set) if (subscriber.socket === socket) set.delete(subscriber);
      if (set.size === 0) listeners.delete(key);
    }
  }

  /** Sends to one subscriber; one that lets its queue grow past the cap is cut off, so others go on. */
  function send(socket: WebSocket, message: string): void {
    if (socket.readyState !== socket.OPEN) return;
    socket.send(message);
    if (socket.bufferedAmount > maxSendBuffer) {
      logger.warn({ ip: sockets.get(socket)?.ip, queued: socket.bufferedAmount }, 'subscriber does not read its events; disconnected');
      dropSocket(socket);
      socket.terminate();
    }
  }

  function sendTo(key: string, message: string, allowed: (party: string) => boolean): void {
    for (const subscriber of [...(listeners.get(key) ?? [])]) if (allowed(subscriber.party)) send(subscriber.socket, message);
  }

  function publish(event: DealEvent): void {
    const message = JSON.stringify(toWire(event));
    if (event.type === 'job:unmatched') {
      const creator = openBook().jobCreatorOf(event.jobOfferId);
      sendTo(`job:${event.jobOfferId.toLowerCase()}`, message, (party) => party === creator);
      logger.info({ event: event.type, id: event.jobOfferId }, 'published');
      return;
    }
    const { deal } = event;
    const creator = deal.jobOffer.terms.jobCreator.toLowerCase();
    sendTo(`job:${deal.dealId.toLowerCase()}`, message, (party) => party === creator);
    sendTo(`rp:${deal.resourceOffer.terms.resourceProvider.toLowerCase()}`, message, () => true);
    logger.info({ event: event.type, id: deal.dealId }, 'published');
  }

  /** Catches the solver's view of a deal up with the chain, one allowed step at a time. */
  async function syncDeal(dealId: Hex): Promise<Deal | undefined> {
    let deal = openBook().getDeal(dealId);
    if (!deal) return undefined;
    const onChain = await components.readDeal(dealId);
    if (onChain.state === 'none') return deal;
    // Walk the shared transition table, so that every state the deal passed through is published.
    for (const next of pathBetween(deal.state, onChain.state) ?? []) {
      const moved = book?.advance(dealId, next, next === 'results-submitted' ? onChain.resultCid : undefined);
      if (!moved) break;
      deal = moved;
      publish({ type: dealEventForState[next], deal } as DealEvent);
    }
    return deal;
  }

  /** After a restart: every deal not yet final is read from the chain again. */
  async function resyncOpenDeals(): Promise<void> {
    const ids = openBook().openDealIds();
    for (let i = 0; i < ids.length; i += 16) {
      await Promise.all(ids.slice(i, i + 16).map((id) => syncDeal(id).catch((error) => logger.warn({ err: error, dealId: id }, 'could not re-sync a deal'))));
    }
    if (ids.length) logger.info({ deals: ids.length }, 're-synced open deals from the chain');
  }

  const tooMany = (c: Context, who: string, retryMs: number) => {
    c.header('retry-after', String(Math.ceil(retryMs / 1000)));
    return c.json({ error: `too many requests from ${who}; retry in ${retryMs} ms` }, 429);
  };

  const app = new Hono();
  app.use('*', bodyLimit({
    maxSize: config.maxBodyBytes ?? solverDefaults.maxBodyBytes,
    onError: (c) => {
      perIp.take(clientIp(c));
      return c.json({ error: 'request body too large' }, 413);
    },
  }));
  // Unsigned requests count against the IP; signed ones against their signer once the signature holds.
  // An IP whose refused requests have used up its bucket is refused outright until it refills.
  app.use('*', async (c, next) => {
    const ip = clientIp(c);
    const signed = c.req.method === 'POST' && !c.req.path.endsWith('/sync');
    const wait = signed ? (perIp.allows(ip) ? 0 : perIp.take(ip)) : perIp.take(ip);
    if (wait > 0) return tooMany(c, ip, wait);
    await next();
  });
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

  /** A refusal that the IP pays for, so that a flood of bad requests stops costing signature checks. */
  const refuse = (c: Context, status: 400 | 401 | 403 | 404 | 409, error: string) => {
    perIp.take(clientIp(c));
    return c.json({ error }, status);
  };

  app.post('/api/v1/resource-offers', async (c) => {
    let offer;
    try {
      offer = parseResourceOffer(await readJson(c.req.raw));
    } catch (error) {
      return refuse(c, 400, (error as Error).message);
    }
    if (offer.terms.expiry <= now()) return refuse(c, 400, 'resource offer has expired');
    if (!(await verifyResourceOfferSignature(components.domain, offer, components.signatureVerifier))) {
      return refuse(c, 401, 'resource offer signature does not match resourceProvider');
    }
    const wait = perAddress.take(offer.terms.resourceProvider.toLowerCase());
    if (wait > 0) return tooMany(c, offer.terms.resourceProvider, wait);
    const id = resourceOfferId(components.domain, offer.terms);
    const outcome = openBook().addResourceOffer(id, offer, now());
    if ('refused' in outcome) return refuse(c, 409, outcome.refused);
    for (const deal of outcome.deals) publish({ type: 'deal:matched', deal });
    return c.json({ id }, 201);
  });

  app.post('/api/v1/resource-offers/:id/withdraw', async (c) => {
    const id = c.req.param('id').toLowerCase() as Hex;
    const request = parseSolverRequest(await readJson(c.req.raw));
    if (typeof request === 'string') return refuse(c, 400, request);
    const problem = await checkSolverRequest(components.domain, request, { action: 'withdraw-resource-offer', target: id, nowSeconds: now() }, components.signatureVerifier);
    if (problem) return refuse(c, 401, problem);
    const wait = perAddress.take(request.party.toLowerCase());
    if (wait > 0) return tooMany(c, request.party, wait);
    if (!openBook().spendNonce(request.party, request.nonce, request.expiry, now())) return refuse(c, 409, 'signed request was already used (replay refused); sign a fresh one');
    if (!openBook().withdrawResourceOffer(id, request.party)) return refuse(c, 404, `no resource offer ${id} of ${request.party}`);
    return c.json({ id, withdrawn: true });
  });

  app.post('/api/v1/job-offers', async (c) => {
    let offer;
    try {
      offer = parseJobOffer(await readJson(c.req.raw));
    } catch (error) {
      return refuse(c, 400, (error as Error).message);
    }
    if (offer.terms.expiry <= now()) return refuse(c, 400, 'job offer has expired');
    if (!(await verifyJobOfferSignature(components.domain, offer, components.signatureVerifier))) {
      return refuse(c, 401, 'job offer signature does not match jobCreator');
    }
    const wait = perAddress.take(offer.terms.jobCreator.toLowerCase());
    if (wait > 0) return tooMany(c, offer.terms.jobCreator, wait);
    const id = jobOfferId(components.domain, offer.terms);
    const outcome = openBook().addJobOffer(id, offer, now());
    if ('refused' in outcome) return refuse(c, 409, outcome.refused);
    if ('deal' in outcome) {
      publish({ type: 'deal:matched', deal: outcome.deal });
      return c.json({ id, state: outcome.deal.state, deal: toWire(outcome.deal) }, 201);
    }
    publish({ type: 'job:unmatched', jobOfferId: id, reason: outcome.pending.reason });
    return c.json({ id, state: 'pending', reason: outcome.pending.reason }, 202);
  });

  app.get('/api/v1/job-offers/:id', (c) => {
    const id = c.req.param('id').toLowerCase() as Hex;
    const deal = openBook().getDeal(id);
    if (deal) return c.json({ id, state: deal.state, deal: toWire(deal) });
    const pending = openBook().getPending(id, now());
    if (pending) return c.json({ id, state: 'pending', reason: pending.reason });
    return c.json({ error: `no job offer ${id}` }, 404);
  });

  app.get('/api/v1/deals/:id', (c) => {
    const deal = openBook().getDeal(c.req.param('id').toLowerCase() as Hex);
    return deal ? c.json(toWire(deal)) : c.json({ error: 'no such deal' }, 404);
  });

  // The job creator's acceptance of its match, which the provider needs to agree the deal: checked here so
  // that nobody else's signature is passed on, then told to both parties with the deal.
  app.post('/api/v1/deals/:id/match-acceptance', async (c) => {
    const deal = openBook().getDeal(c.req.param('id').toLowerCase() as Hex);
    if (!deal) return refuse(c, 404, 'no such deal');
    const body = (await readJson(c.req.raw)) as { signature?: unknown } | undefined;
    const signature = typeof body?.signature === 'string' && /^0x[0-9a-fA-F]{2,1024}$/.test(body.signature) ? (body.signature as Hex) : undefined;
    if (!signature || !(await verifyMatchAcceptance(components.domain, deal, signature, components.signatureVerifier))) {
      return refuse(c, 401, 'signature is not the job creator’s acceptance of this match');
    }
    if (deal.state !== 'matched') return c.json(toWire(deal));
    if (openBook().acceptMatch(deal.dealId, signature)) {
      const accepted = openBook().getDeal(deal.dealId)!;
      publish({ type: 'deal:matched', deal: accepted });
      return c.json(toWire(accepted));
    }
    return c.json(toWire(openBook().getDeal(deal.dealId)));
  });

  // Anyone may ask the solver to look at the chain again for a deal; it believes only the chain.
  app.post('/api/v1/deals/:id/sync', async (c) => {
    const deal = await syncDeal(c.req.param('id').toLowerCase() as Hex);
    return deal ? c.json(toWire(deal)) : c.json({ error: 'no such deal' }, 404);
  });

  const subscribeHelp = 'expected {"subscribe": {"jobOffer": ID} | {"resourceProvider": ADDRESS}, "auth": SIGNED_REQUEST}';

  async function subscribe(socket: WebSocket, ip: string, raw: unknown): Promise<string | undefined> {
    const message = raw as { subscribe?: Record<string, unknown>; auth?: unknown };
    const target = message?.subscribe;
    let subscription: Subscription;
    if (target && typeof target.jobOffer === 'string' && /^0x[0-9a-fA-F]{64}$/.test(target.jobOffer)) {
      subscription = { jobOffer: target.jobOffer.toLowerCase() as Hex };
    } else if (target && typeof target.resourceProvider === 'string' && /^0x[0-9a-fA-F]{40}$/.test(target.resourceProvider)) {
      subscription = { resourceProvider: target.resourceProvider.toLowerCase() as Address };
    } else {
      return subscribeHelp;
    }
    if (message.auth === undefined) return `subscriptions must be signed by the party they are for; ${subscribeHelp}`;
    const request: SolverRequest | string = parseSolverRequest(message.auth);
    if (typeof request === 'string') return request;
    const problem = await checkSolverRequest(
      components.domain,
      request,
      'jobOffer' in subscription
        ? { action: 'subscribe-job-offer', target: subscription.jobOffer, nowSeconds: now() }
        : { action: 'subscribe-resource-provider', nowSeconds: now() },
      components.signatureVerifier,
    );
    if (problem) return problem;
    const party = request.party.toLowerCase();
    if ('resourceProvider' in subscription && party !== subscription.resourceProvider) {
      return `only resource provider ${subscription.resourceProvider} may subscribe to its events`;
    }
    const currentBook = openBook();
    if ('jobOffer' in subscription) {
      const creator = currentBook.jobCreatorOf(subscription.jobOffer);
      if (creator !== undefined && creator !== party) return `job offer ${subscription.jobOffer} is not ${request.party}'s: only its job creator may subscribe to it`;
    }
    const wait = perAddress.take(party);
    if (wait > 0) return `too many requests from ${request.party}; retry in ${wait} ms`;
    if (!currentBook.spendNonce(request.party, request.nonce, request.expiry, now())) return 'signed request was already used (replay refused); sign a fresh one';
    const entry = sockets.get(socket);
    if (!entry || socket.readyState !== socket.OPEN) return undefined;
    if (entry.keys.size >= solverDefaults.maxSubscriptionsPerSocket) return `at most ${solverDefaults.maxSubscriptionsPerSocket} subscriptions on one connection`;
    const key = 'jobOffer' in subscription ? `job:${subscription.jobOffer}` : `rp:${subscription.resourceProvider}`;
    entry.keys.add(key);
    let set = listeners.get(key);
    if (!set) listeners.set(key, (set = new Set()));
    set.add({ socket, party });
    send(socket, JSON.stringify({ type: 'subscribed', subscription }));
    // A late subscriber gets the current state, so no event is lost between posting and listening (or
    // across a reconnect, or a restart of the solver).
    if ('jobOffer' in subscription) {
      const deal = currentBook.getDeal(subscription.jobOffer);
      if (deal) send(socket, JSON.stringify(toWire({ type: dealEventForState[deal.state], deal })));
      const pending = currentBook.getPending(subscription.jobOffer, now());
      if (pending) send(socket, JSON.stringify(toWire({ type: 'job:unmatched', jobOfferId: pending.id, reason: pending.reason })));
    } else {
      for (const id of currentBook.matchedDealIdsOf(subscription.resourceProvider)) {
        const deal = currentBook.getDeal(id);
        if (deal) send(socket, JSON.stringify(toWire({ type: 'deal:matched', deal })));
      }
    }
    logger.info({ ip, party, key }, 'subscribed');
    return undefined;
  }

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const ip = request.socket.remoteAddress ?? 'unknown';
    sockets.set(socket, { ip, keys: new Set() });
    socket.on('message', (data) => {
      let message: unknown;
      try {
        message = JSON.parse(String(data));
      } catch {
        perIp.take(ip);
        send(socket, JSON.stringify({ type: 'error', error: 'messages must be JSON' }));
        return;
      }
      if (!perIp.allows(ip)) {
        send(socket, JSON.stringify({ type: 'error', error: `too many refused requests from ${ip}; retry later` }));
        return;
      }
      subscribe(socket, ip, message).then(
        (error) => {
          if (error === undefined) return;
          perIp.take(ip);
          send(socket, JSON.stringify({ type: 'error', error }));
        },
        (error) => {
          logger.error({ err: error }, 'subscription failed');
          send(socket, JSON.stringify({ type: 'error', error: 'internal error' }));
        },
      );
    });
    socket.on('close', () => dropSocket(socket));
    socket.on('error', () => dropSocket(socket));
  });

  function refuseUpgrade(socket: Duplex, status: string, error: string): void {
    const body = JSON.stringify({ error });
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }

  const lifecycle = onceLifecycle({
    async start() {
      book = new OrderBook(config.dbPath ?? ':memory:');
      try {
        http = await listen(app, { host: config.host, port: config.port });
      } catch (error) {
        book.close();
        book = undefined;
        throw error;
      }
      http.server.maxConnections = config.maxConnections ?? solverDefaults.maxConnections;
      http.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (new URL(request.url ?? '/', 'http://solver').pathname !== '/api/v1/events') {
          socket.destroy();
          return;
        }
        const ip = request.socket.remoteAddress ?? 'unknown';
        const wait = perIp.take(ip);
        if (wait > 0) return refuseUpgrade(socket, '429 Too Many Requests', `too many requests from ${ip}; retry in ${wait} ms`);
        if (sockets.size >= maxSubscribers) return refuseUpgrade(socket, '503 Service Unavailable', `the solver has ${maxSubscribers} subscribers already; retry later`);
        wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
      });
      pruneTimer = setInterval(() => book?.prune(now()), 30_000);
      pruneTimer.unref();
      logger.info({ url: http.url, db: config.dbPath ?? ':memory:', ...book.sizes }, 'solver listening');
      await resyncOpenDeals();
    },
    async stop() {
      clearInterval(pruneTimer);
      for (const socket of sockets.keys()) socket.terminate();
      sockets.clear();
      listeners.clear();
      await http?.close();
      http = undefined;
      book?.close();
      book = undefined;
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
