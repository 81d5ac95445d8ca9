/**
 * The solver's WebSocket side (`/api/v1/events`): who listens to what, and telling each party about its own
 * deals. A subscription is a signed request of the party it is for (requests.ts), so a provider hears only its
 * own deals and a job creator only its own job offer's. A late subscriber gets the current state, a
 * subscriber that does not read is cut off, one that never subscribes or stops answering pings is closed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isAddress, isHex, type Address, type Hex } from 'viem';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../lib/logger.js';
import { dealEventForState, type Deal, type DealEvent } from '../protocol/deals.js';
import { toWire, type OfferDomain, type SignatureVerifier } from '../protocol/offers.js';
import type { OrderBook } from './order-book.js';
import type { RateLimiter } from './rate-limit.js';
import { checkSolverRequest, parseSolverRequest, type SolverRequest } from './requests.js';
import type { ProviderStanding } from './standing.js';

export interface SubscriptionSettings {
  maxSubscribers: number;
  maxSubscriptionsPerSocket: number;
  maxSendBufferBytes: number;
  /** A WebSocket that has not subscribed within this long is closed. */
  idleTimeoutMs: number;
  heartbeatMs: number;
}

export interface SubscriptionComponents {
  domain: OfferDomain;
  signatureVerifier?: SignatureVerifier;
  /** The open order book; throws when the solver is stopped. */
  book: () => OrderBook;
  standing: ProviderStanding;
  perIp: RateLimiter;
  perAddress: RateLimiter;
  now: () => bigint;
  logger: Logger;
  /** A provider subscribed again after its last subscription closed: its offers may come back. */
  onProviderBack: (provider: string) => Promise<void>;
}

export interface Subscriptions {
  /** Tells a deal's job creator and provider (or a waiting job offer's creator) of the event. */
  publish(event: DealEvent): void;
  /** Tells a dropped deal's job creator and provider that the match is off (the job waits again). */
  publishDropped(deal: Deal, reason: string): void;
  /** Takes an HTTP upgrade to `/api/v1/events`, or refuses it when the IP or the solver is over its limit. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  start(): void;
  stop(): void;
}

type Subscription = { jobOffer: Hex } | { resourceProvider: Address };

interface Subscriber {
  socket: WebSocket;
  /** The party the subscriber proved it is. */
  party: string;
}

const subscribeHelp = 'expected {"subscribe": {"jobOffer": ID} | {"resourceProvider": ADDRESS}, "auth": SIGNED_REQUEST}';

export function createSubscriptions(settings: SubscriptionSettings, components: SubscriptionComponents): Subscriptions {
  const { standing, perIp, perAddress, now, logger } = components;
  /** Subscribers by what they listen to: `job:<id>` or `rp:<address>`, lower case. */
  const listeners = new Map<string, Set<Subscriber>>();
  const sockets = new Map<WebSocket, { ip: string; keys: Set<string>; alive: boolean; idleTimer?: NodeJS.Timeout }>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  let heartbeatTimer: NodeJS.Timeout | undefined;

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
    if (socket.bufferedAmount > settings.maxSendBufferBytes) {
      logger.warn({ ip: sockets.get(socket)?.ip, queued: socket.bufferedAmount }, 'subscriber does not read its events; disconnected');
      dropSocket(socket);
      socket.terminate();
    }
  }

  function sendTo(key: string, message: string, allowed: (party: string) => boolean): void {
    for (const subscriber of [...(listeners.get(key) ?? [])]) if (allowed(subscriber.party)) send(subscriber.socket, message);
  }

  /** Sends a deal's message to its job creator and its provider. */
  function sendToParties(deal: Deal, message: string): void {
    const creator = deal.jobOffer.terms.jobCreator.toLowerCase();
    sendTo(`job:${deal.dealId.toLowerCase()}`, message, (party) => party === creator);
    sendTo(`rp:${deal.resourceOffer.terms.resourceProvider.toLowerCase()}`, message, () => true);
  }

  function publish(event: DealEvent): void {
    const message = JSON.stringify(toWire(event));
    if (event.type === 'job:unmatched') {
      const creator = components.book().jobCreatorOf(event.jobOfferId);
      sendTo(`job:${event.jobOfferId.toLowerCase()}`, message, (party) => party === creator);
      logger.info({ event: event.type, id: event.jobOfferId }, 'published');
      return;
    }
    sendToParties(event.deal, message);
    logger.info({ event: event.type, id: event.deal.dealId }, 'published');
  }

  function publishDropped(deal: Deal, reason: string): void {
    sendToParties(deal, JSON.stringify({ type: 'job:unmatched', jobOfferId: deal.dealId, reason }));
    logger.info({ event: 'job:unmatched', id: deal.dealId, reason }, 'published');
  }

  /** Checks and records one subscription; returns the error to send back, or undefined. */
  async function subscribe(socket: WebSocket, ip: string, raw: unknown): Promise<string | undefined> {
    const message = raw as { subscribe?: Record<string, unknown>; auth?: unknown };
    const target = message?.subscribe;
    let subscription: Subscription;
    if (target && typeof target.jobOffer === 'string' && isHex(target.jobOffer) && target.jobOffer.length === 66) {
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
    const book = components.book();
    if ('jobOffer' in subscription) {
      const creator = book.jobCreatorOf(subscription.jobOffer);
      if (creator !== undefined && creator !== party) return `job offer ${subscription.jobOffer} is not ${request.party}'s: only its job creator may subscribe to it`;
    }
    const wait = perAddress.take(party);
    if (wait > 0) return `too many requests from ${request.party}; retry in ${wait} ms`;
    if (!book.spendNonce(request.party, request.nonce, request.expiry, now())) return 'signed request was already used (replay refused); sign a fresh one';
    const entry = sockets.get(socket);
    if (!entry || socket.readyState !== socket.OPEN) return undefined;
    if (entry.keys.size >= settings.maxSubscriptionsPerSocket) return `at most ${settings.maxSubscriptionsPerSocket} subscriptions on one connection`;
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
      const deal = book.getDeal(subscription.jobOffer);
      if (deal) send(socket, JSON.stringify(toWire({ type: dealEventForState[deal.state], deal })));
      const pending = book.getPending(subscription.jobOffer, now());
      if (pending) send(socket, JSON.stringify(toWire({ type: 'job:unmatched', jobOfferId: pending.id, reason: pending.reason })));
    } else {
      for (const id of book.matchedDealIdsOf(subscription.resourceProvider)) {
        const deal = book.getDeal(id);
        if (deal) send(socket, JSON.stringify(toWire({ type: 'deal:matched', deal })));
      }
    }
    logger.info({ ip, party, key }, 'subscribed');
    if (cameBack) await components.onProviderBack(party);
    return undefined;
  }

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const ip = request.socket.remoteAddress ?? 'unknown';
    // A WebSocket that has not subscribed within the idle time holds a connection for nothing.
    const idleTimer = setTimeout(() => {
      if (sockets.get(socket)?.keys.size === 0) socket.close(1008, 'no subscription');
    }, settings.idleTimeoutMs);
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

  return {
    publish,
    publishDropped,
    upgrade(request, socket, head) {
      if (new URL(request.url ?? '/', 'http://solver').pathname !== '/api/v1/events') {
        socket.destroy();
        return;
      }
      const ip = request.socket.remoteAddress ?? 'unknown';
      const wait = perIp.take(ip);
      if (wait > 0) return refuseUpgrade(socket, '429 Too Many Requests', `too many requests from ${ip}; retry in ${wait} ms`);
      if (sockets.size >= settings.maxSubscribers) return refuseUpgrade(socket, '503 Service Unavailable', `the solver has ${settings.maxSubscribers} subscribers already; retry later`);
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
    },
    start() {
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
      }, settings.heartbeatMs);
      heartbeatTimer.unref();
    },
    stop() {
      clearInterval(heartbeatTimer);
      for (const socket of sockets.keys()) socket.terminate();
      for (const entry of sockets.values()) clearTimeout(entry.idleTimer);
      sockets.clear();
      listeners.clear();
    },
  };
}
