/**
 * The solver: takes signed offers over HTTP (routes.ts), matches them (matcher.ts), keeps its book in SQLite
 * (order-book.ts), and tells each party about its own deals over WebSocket (subscriptions.ts). This file
 * wires those together and owns what the solver learns from the chain. It is a matchmaker, not a
 * trusted party: it checks every signature, it learns that a deal moved on by reading the chain, not by
 * taking anyone's word for it, and it tells a subscriber only what the subscriber has proven it may see.
 *
 * Every write is signed by the party it speaks for and can be used once: offers carry their own nonce and
 * expiry (and a used or expired offer posted again is refused); other writes and subscriptions are
 * signed requests (requests.ts) whose nonces the solver spends. Requests are rate-limited per address
 * once signed and per IP otherwise; connections are capped per address (connection-cap.ts) and closed when idle; a
 * subscriber that does not read its events is dropped.
 *
 * A resource offer is matched only while its provider can take the deal (standing.ts): it holds the
 * collateral in escrow, it is subscribed to its deals, and it has not lately let a matched deal go
 * unagreed. A provider that does not agree a match in time loses the job to another offer; one that goes
 * away has its offers withdrawn after a grace.
 */
import type { Address, Hex } from 'viem';
import { nowSeconds } from '../lib/clock.js';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { pathBetween } from '../protocol/deal-states.js';
import { dealEventForState, type Deal, type DealEvent, type ReadDeal } from '../protocol/deals.js';
import type { OfferDomain, SignatureVerifier } from '../protocol/offers.js';
import { capConnectionsPerAddress } from './connection-cap.js';
import { OrderBook, type MatchedDeal } from './order-book.js';
import { RateLimiter, type RateLimit } from './rate-limit.js';
import { solverRoutes } from './routes.js';
import { agreementClockStart, ProviderStanding, type FreeEscrow } from './standing.js';
import { createSubscriptions } from './subscriptions.js';

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


export function createSolver(config: SolverConfig, components: SolverComponents): Solver {
  const logger = components.logger ?? silentLogger;
  const now = components.now ?? nowSeconds;
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
  const openBook = (): OrderBook => {
    if (!book) throw new Error('solver is not started');
    return book;
  };

  const subscriptions = createSubscriptions(
    {
      maxSubscribers: config.maxSubscribers ?? solverDefaults.maxSubscribers,
      maxSubscriptionsPerSocket: solverDefaults.maxSubscriptionsPerSocket,
      maxSendBufferBytes: config.maxSendBufferBytes ?? solverDefaults.maxSendBufferBytes,
      idleTimeoutMs,
      heartbeatMs: config.heartbeatMs ?? solverDefaults.heartbeatMs,
    },
    {
      domain: components.domain,
      signatureVerifier: components.signatureVerifier,
      book: openBook,
      standing,
      perIp,
      perAddress,
      now,
      logger,
      // Reachable again: its offers taken out while it was away come back, and waiting jobs may fit it now.
      onProviderBack: async (provider) => {
        openBook().restoreOffersOf(provider, now());
        await readEscrow(provider);
        if (book) matchPending();
      },
    },
  );
  const { publish, publishDropped } = subscriptions;

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

  const app = solverRoutes(config.maxBodyBytes ?? solverDefaults.maxBodyBytes, {
    domain: components.domain,
    signatureVerifier: components.signatureVerifier,
    book: openBook,
    perIp,
    perAddress,
    now,
    logger,
    publish,
    readEscrow,
    syncDeal,
  });

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
      capConnectionsPerAddress(http.server, maxPerAddress, logger);
      // HTTP connections that send nothing are closed (an upgraded WebSocket has its own idle rule).
      http.server.setTimeout(idleTimeoutMs, (socket) => socket.destroy());
      http.server.on('upgrade', subscriptions.upgrade);
      pruneTimer = setInterval(() => book?.prune(now()), 30_000);
      pruneTimer.unref();
      subscriptions.start();
      logger.info({ url: http.url, db: config.dbPath ?? ':memory:', ...book.sizes }, 'solver listening');
      await resyncOpenDeals();
      await refreshFromChain().catch((error) => logger.warn({ err: error }, 'could not read the chain'));
      refreshTimer = setInterval(() => void refreshFromChain().catch((error) => logger.warn({ err: error }, 'could not read the chain')), config.chainRefreshMs ?? solverDefaults.chainRefreshMs);
      refreshTimer.unref();
    },
    async stop() {
      clearInterval(pruneTimer);
      clearInterval(refreshTimer);
      subscriptions.stop();
      standing.close();
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
