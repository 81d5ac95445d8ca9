/**
 * The solver: takes signed offers over HTTP, matches them (matcher.ts), keeps its book in SQLite
 * (order-book.ts), and tells each party about its own deals over WebSocket. It is a matchmaker, not a
 * trusted party: it checks every signature, it learns that a deal moved on by reading the chain, not by
 * taking anyone's word for it, and it tells a subscriber only what the subscriber has proven it may see.
 *
 * Every write is signed by the party it speaks for and can be used once: offers carry their own nonce and
 * expiry (and a used or expired offer posted again is refused); other writes and subscriptions are
 * signed requests (requests.ts) whose nonces the solver spends. Requests are rate-limited per address
 * once signed and per IP otherwise; connections are capped per address and closed when idle; a
 * subscriber that does not read its events is dropped.
 *
 * A resource offer is matched only while its provider can take the deal (standing.ts): it holds the
 * collateral in escrow, it is subscribed to its deals, and it has not lately let a matched deal go
 * unagreed. A provider that does not agree a match in time loses the job to another offer; one that goes
 * away has its offers withdrawn after a grace.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { isAddress, type Address, type Hex } from 'viem';
import { WebSocketServer, type WebSocket } from 'ws';
import { nowSeconds } from '../lib/clock.js';
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
import { jobOfferProblem, resourceOfferProblem } from './bounds.js';
import { OrderBook, type MatchedDeal } from './order-book.js';
import { RateLimiter, type RateLimit } from './rate-limit.js';
import { checkSolverRequest, parseSolverRequest, type SolverRequest } from './requests.js';
import { agreementClockStart, ProviderStanding, type FreeEscrow } from './standing.js';

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
  /** TCP connections at once from one address (an IPv6 /64 counts as one), HTTP and WebSocket; more are closed at once. */
  maxConnectionsPerAddress?: number;
  /** An HTTP connection that sends nothing for this long, or a WebSocket that has not subscribed by then, is closed. */
  idleTimeoutMs?: number;
  /** How often WebSockets are pinged; one that has not answered the last ping is closed. */
  heartbeatMs?: number;
  /** How long a provider has to agree a matched deal on chain; after it the job is matched elsewhere. */
  agreementTimeoutMs?: number;
  /** How long a provider that let a matched deal go unagreed is not matched. */
  stalePauseMs?: number;
  /** How long a provider's offers outlive its last subscription before they are withdrawn. */
  providerGraceMs?: number;
  /** How often providers' free escrow is read from the chain and matched deals are checked against their time. */
  chainRefreshMs?: number;
  /** Bytes queued for one subscriber that is not reading; past this it is disconnected. */
  maxSendBufferBytes?: number;
}

export interface SolverComponents {
  domain: OfferDomain;
  readDeal: ReadDeal;
  /** Reads a provider's free escrow on chain (`chainFreeEscrow` in standing.ts). */
  freeEscrow: FreeEscrow;
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
  maxConnectionsPerAddress: 256,
  idleTimeoutMs: 10_000,
  heartbeatMs: 30_000,
  agreementTimeoutMs: 30_000,
  stalePauseMs: 120_000,
  providerGraceMs: 15_000,
  chainRefreshMs: 2_000,
  maxSendBufferBytes: 1024 * 1024,
  maxSubscriptionsPerSocket: 64,
};

interface Subscriber {
  socket: WebSocket;
  /** The party the subscriber proved it is. */
  party: string;
}

type Subscription = { jobOffer: Hex } | { resourceProvider: Address };

/** Whom a connection counts against: its address, or for IPv6 its /64 (one host can hold a whole /64). */
export function connectionKey(address: string | undefined): string {
  if (!address) return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}

function clientIp(c: Context): string {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? 'unknown';
}

export function createSolver(config: SolverConfig, components: SolverComponents): Solver {
  const logger = components.logger ?? silentLogger;
  const now = components.now ?? nowSeconds;
  const maxSendBuffer = config.maxSendBufferBytes ?? solverDefaults.maxSendBufferBytes;
  const maxSubscribers = config.maxSubscribers ?? solverDefaults.maxSubscribers;
  const perAddress = new RateLimiter(config.rateLimits?.perAddress ?? solverDefaults.perAddress);
  const perIp = new RateLimiter(config.rateLimits?.perIp ?? solverDefaults.perIp);
  const maxPerAddress = config.maxConnectionsPerAddress ?? solverDefaults.maxConnectionsPerAddress;
  const idleTimeoutMs = config.idleTimeoutMs ?? solverDefaults.idleTimeoutMs;
  const agreementTimeoutMs = config.agreementTimeoutMs ?? solverDefaults.agreementTimeoutMs;
  const standing = new ProviderStanding({
    graceMs: config.providerGraceMs ?? solverDefaults.providerGraceMs,
    pauseMs: config.stalePauseMs ?? solverDefaults.stalePauseMs,
    onGone: (provider) => {
      const withdrawn = book?.withdrawOffersOf(provider) ?? 0;
      if (withdrawn) logger.info({ provider, offers: withdrawn }, 'resource provider stayed away past the grace; its offers are withdrawn');
    },
  });
  let book: OrderBook | undefined;
  let http: RunningHttpServer | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  /** Open TCP connections by `connectionKey`. */
  const connections = new Map<string, number>();
  /** Subscribers by what they listen to: `job:<id>` or `rp:<address>`, lower case. */
  const listeners = new Map<string, Set<Subscriber>>();
  const sockets = new Map<WebSocket, { ip: string; keys: Set<string>; alive: boolean; idleTimer?: NodeJS.Timeout }>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  const openBook = (): OrderBook => {
    if (!book) throw new Error('solver is not started');
    return book;
  };

  function dropSocket(socket: WebSocket): void {
    const entry = sockets.get(socket);
    if (!entry) return;
    sockets.delete(socket);
    clearTimeout(entry.idleTimer);
    for (const key of entry.keys) {
      const set = listeners.get(key);
      if (!set) continue;
      for (const subscriber of set) {
        if (subscriber.socket !== socket) continue;
        set.delete(subscriber);
        if (key.startsWith('rp:')) standing.unsubscribed(key.slice(3));
      }
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

  /** Tells a dropped deal's job creator and provider that the match is off (the job waits again). */
  function publishDropped(deal: Deal, reason: string): void {
    const message = JSON.stringify({ type: 'job:unmatched', jobOfferId: deal.dealId, reason });
    const creator = deal.jobOffer.terms.jobCreator.toLowerCase();
    sendTo(`job:${deal.dealId.toLowerCase()}`, message, (party) => party === creator);
    sendTo(`rp:${deal.resourceOffer.terms.resourceProvider.toLowerCase()}`, message, () => true);
    logger.info({ event: 'job:unmatched', id: deal.dealId, reason }, 'published');
  }

  /** Matches the waiting job offers again and tells of each new deal; `dropped` jobs still waiting hear why. */
  function matchPending(dropped: Hex[] = []): void {
    const currentBook = openBook();
    for (const deal of currentBook.matchPending(now())) publish({ type: 'deal:matched', deal });
    for (const id of dropped) {
      const pending = currentBook.getPending(id);
      if (pending) publish({ type: 'job:unmatched', jobOfferId: id, reason: pending.reason });
    }
  }

  /** Reads a provider's free escrow from the chain into its standing; true when it can lock more than before. */
  async function readEscrow(provider: string): Promise<boolean> {
    try {
      return standing.setFreeEscrow(provider, await components.freeEscrow(provider as Address));
    } catch (error) {
      logger.warn({ err: error, provider }, 'could not read escrow from the chain');
      return false;
    }
  }

  /**
   * A matched deal past its time: if the chain still has no such deal, the match is undone, the provider
   * paused, and the job matched again elsewhere. Returns whether it was dropped.
   */
  async function dropIfUnagreed(matched: MatchedDeal): Promise<boolean> {
    const deal = await syncDeal(matched.id);
    if (!book || deal?.state !== 'matched') return false;
    const reason = `resource provider ${deal.resourceOffer.terms.resourceProvider} did not agree the deal on chain within ${agreementTimeoutMs / 1000} s; matching the job again`;
    const dropped = book.dropMatchedDeal(matched.id, reason, now());
    if (!dropped) return false;
    standing.pause(matched.provider);
    logger.warn({ dealId: matched.id, provider: matched.provider }, 'matched deal not agreed in time; dropped, provider paused');
    publishDropped(dropped, reason);
    return true;
  }

  /**
   * What the solver learns from the chain, every `chainRefreshMs`: the free escrow of every provider with
   * an open offer (one read per provider, however many job offers arrive; matching then reads the cache),
   * and which matched deals are past their time to be agreed.
   */
  let refreshing = false;
  async function refreshFromChain(): Promise<void> {
    if (refreshing || !book) return;
    refreshing = true;
    try {
      let changed = standing.endPauses();
      const providers = [...book.providers(now())];
      for (let i = 0; i < providers.length; i += 16) {
        const grew = await Promise.all(providers.slice(i, i + 16).map(readEscrow));
        if (grew.includes(true)) changed = true;
      }
      const dropped: Hex[] = [];
      for (const matched of book?.matchedDeals() ?? []) {
        const startedAt = agreementClockStart(matched);
        if (startedAt === undefined || Date.now() - startedAt < agreementTimeoutMs) continue;
        const gone = await dropIfUnagreed(matched).catch((error) => {
          logger.warn({ err: error, dealId: matched.id }, 'could not check a matched deal on chain');
          return false;
        });
        if (gone) dropped.push(matched.id);
      }
      if (book && (changed || dropped.length)) matchPending(dropped);
    } finally {
      refreshing = false;
    }
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
    const problem = resourceOfferProblem(offer);
    if (problem) return refuse(c, 400, problem);
    if (offer.terms.expiry <= now()) return refuse(c, 400, 'resource offer has expired');
    if (!(await verifyResourceOfferSignature(components.domain, offer, components.signatureVerifier))) {
      return refuse(c, 401, 'resource offer signature does not match resourceProvider');
    }
    const provider = offer.terms.resourceProvider.toLowerCase();
    const wait = perAddress.take(provider);
    if (wait > 0) return tooMany(c, offer.terms.resourceProvider, wait);
    await readEscrow(provider); // fresh for the offer's first matches
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
    const problem = jobOfferProblem(offer);
    if (problem) return refuse(c, 400, problem);
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
    } else if (target && typeof target.resourceProvider === 'string' && isAddress(target.resourceProvider, { strict: false })) {
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
    clearTimeout(entry.idleTimer);
    let set = listeners.get(key);
    if (!set) listeners.set(key, (set = new Set()));
    set.add({ socket, party });
    const cameBack = 'resourceProvider' in subscription && standing.subscribed(party);
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
    if (cameBack) {
      // Reachable again: its offers taken out while it was away come back, and waiting jobs may fit it now.
      currentBook.restoreOffersOf(party, now());
      await readEscrow(party);
      if (book) matchPending();
    }
    return undefined;
  }

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const ip = request.socket.remoteAddress ?? 'unknown';
    // A WebSocket that has not subscribed within the idle time holds a connection for nothing.
    const idleTimer = setTimeout(() => {
      if (sockets.get(socket)?.keys.size === 0) socket.close(1008, 'no subscription');
    }, idleTimeoutMs);
    idleTimer.unref();
    sockets.set(socket, { ip, keys: new Set(), alive: true, idleTimer });
    socket.on('pong', () => {
      const entry = sockets.get(socket);
      if (entry) entry.alive = true;
    });
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
      book = new OrderBook(config.dbPath ?? ':memory:', standing);
      try {
        http = await listen(app, { host: config.host, port: config.port });
      } catch (error) {
        book.close();
        book = undefined;
        throw error;
      }
      http.server.maxConnections = config.maxConnections ?? solverDefaults.maxConnections;
      // One address cannot hold every connection: past its cap, its new ones are closed at once.
      const capped = new Set<string>();
      http.server.on('connection', (socket: Socket) => {
        const key = connectionKey(socket.remoteAddress);
        const open = connections.get(key) ?? 0;
        if (open >= maxPerAddress) {
          if (!capped.has(key)) logger.warn({ address: key, open }, 'connection cap reached for an address; closing its new connections');
          capped.add(key);
          socket.destroy();
          return;
        }
        connections.set(key, open + 1);
        socket.once('close', () => {
          const left = (connections.get(key) ?? 1) - 1;
          if (left > 0) connections.set(key, left);
          else connections.delete(key);
          if (left < maxPerAddress) capped.delete(key);
        });
      });
      // HTTP connections that send nothing are closed (an upgraded WebSocket has its own idle rule).
      http.server.setTimeout(idleTimeoutMs, (socket) => socket.destroy());
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
      // A WebSocket whose peer vanished without closing (a host gone) is found by its missing pong.
      heartbeatTimer = setInterval(() => {
        for (const [socket, entry] of sockets) {
          if (!entry.alive) {
            dropSocket(socket);
            socket.terminate();
            continue;
          }
          entry.alive = false;
          socket.ping();
        }
      }, config.heartbeatMs ?? solverDefaults.heartbeatMs);
      heartbeatTimer.unref();
      logger.info({ url: http.url, db: config.dbPath ?? ':memory:', ...book.sizes }, 'solver listening');
      await resyncOpenDeals();
      await refreshFromChain().catch((error) => logger.warn({ err: error }, 'could not read the chain'));
      refreshTimer = setInterval(() => void refreshFromChain().catch((error) => logger.warn({ err: error }, 'could not read the chain')), config.chainRefreshMs ?? solverDefaults.chainRefreshMs);
      refreshTimer.unref();
    },
    async stop() {
      clearInterval(pruneTimer);
      clearInterval(refreshTimer);
      clearInterval(heartbeatTimer);
      for (const socket of sockets.keys()) socket.terminate();
      for (const entry of sockets.values()) clearTimeout(entry.idleTimer);
      sockets.clear();
      listeners.clear();
      standing.close();
      connections.clear();
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
