/**
 * Talking to a solver over HTTP and WebSocket: what resource providers and job creators use.
 */
import type { Address, Hex } from 'viem';
import WebSocket from 'ws';
import { SolverError } from '../lib/errors.js';
import { parseDeal, parseDealEvent, type Deal, type DealEvent } from '../protocol/deals.js';
import { toWire, type JobOffer, type OfferDomain, type ResourceOffer } from '../protocol/offers.js';
import { signSolverRequest, type RequestSigner } from './requests.js';

export type JobOfferPostResult = { id: Hex; state: 'pending'; reason: string } | { id: Hex; state: Deal['state']; deal: Deal };

/** Who signs for a subscription or a withdrawal, for which network. */
export interface SolverAuth {
  signer: RequestSigner;
  domain: OfferDomain;
}

/**
 * What to listen to, signed by the party it is about: a resource provider's deals, or the deal of one
 * job offer (then `jobCreator` is the offer's creator, a key or an ERC-1271 contract `signer` signs for).
 */
export type SubscriptionRequest = SolverAuth & {
  /** The event types wanted; others are dropped unread (a deal event is parsed and its offers re-hashed). Default: all. */
  events?: ReadonlyArray<DealEvent['type']>;
} & ({ resourceProvider: Address } | { jobOffer: Hex; jobCreator: Address });

export interface EventSubscription {
  /** Resolves once the solver has confirmed the subscription. */
  ready: Promise<void>;
  close(): void;
}

export interface SolverClient {
  readonly url: string;
  postResourceOffer(offer: ResourceOffer): Promise<Hex>;
  postJobOffer(offer: JobOffer): Promise<JobOfferPostResult>;
  /** Asks the solver to read the deal from the chain again (and tell its parties what moved). */
  syncDeal(dealId: Hex): Promise<void>;
  /** The deal as the solver keeps it (offers re-checked against their signed hashes by `parseDeal`). */
  getDeal(dealId: Hex): Promise<Deal>;
  /** Hands the solver the job creator's acceptance of a matched deal, for its provider to agree it with. */
  acceptMatch(dealId: Hex, signature: Hex): Promise<void>;
  /** The open resource offers, oldest first, as the solver says (each to be checked by the reader). */
  listResourceOffers(page?: { after?: number; limit?: number }): Promise<SolverListing<{ id: string; used: number; offer: unknown }>>;
  /** The recent deals, newest first, without their jobs' inputs, as the solver says (each to be checked by the reader). */
  listDeals(page?: { before?: number; limit?: number }): Promise<SolverListing<unknown>>;
  /** Takes a resource offer out of matching; signed by its provider. */
  withdrawResourceOffer(id: Hex, auth: SolverAuth & { resourceProvider: Address }): Promise<void>;
  /**
   * Listens to events. After a lost connection it reconnects (signing afresh) for up to
   * `reconnectForMs`, and the solver sends the current state again; `onClose` is called when it gives up.
   */
  subscribe(subscription: SubscriptionRequest, onEvent: (event: DealEvent) => void, onClose?: (error?: Error) => void): EventSubscription;
}

/** One page of a public listing as the solver sent it: unchecked, for the reader to verify item by item. */
export interface SolverListing<T> {
  items: T[];
  /** Where the next page starts; undefined on the last page. */
  next?: number;
}

export interface SolverClientOptions {
  /** How long a subscription tries to reconnect after losing the solver (default 60 s; 0: never). */
  reconnectForMs?: number;
}

export function createSolverClient(url: string, options: SolverClientOptions = {}): SolverClient {
  const reconnectForMs = options.reconnectForMs ?? 60_000;
  const base = url.replace(/\/+$/, '');

  async function request_(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    let response: Response;
    const send = () =>
      fetch(base + path, {
        method,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(toWire(body)),
      });
    try {
      // A kept-alive connection to a solver that has since restarted fails once; reads are safe to repeat.
      response = await send().catch((error) => (method === 'GET' || path.endsWith('/sync') ? send() : Promise.reject(error)));
    } catch (error) {
      throw new SolverError(`cannot reach the solver at ${base}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}; is it running? (SERVICE_SOLVER)`, {
        code: 'solver-unreachable',
        retryable: true,
        cause: error,
      });
    }
    const json: any = await response.json().catch(() => ({}));
    if (response.status >= 400) {
      throw new SolverError(`solver refused ${method} ${path}: ${json.error ?? response.statusText}`, {
        code: 'solver-refused',
        details: { status: response.status },
      });
    }
    return { status: response.status, json };
  }

  return {
    url: base,
    async postResourceOffer(offer) {
      return (await request_('POST', '/api/v1/resource-offers', offer)).json.id;
    },
    async postJobOffer(offer) {
      const { json } = await request_('POST', '/api/v1/job-offers', offer);
      return json.state === 'pending' ? json : { ...json, deal: parseDeal(json.deal) };
    },
    async getDeal(dealId) {
      return parseDeal((await request_('GET', `/api/v1/deals/${dealId}`)).json);
    },
    async listResourceOffers(page = {}) {
      const { json } = await request_('GET', `/api/v1/resource-offers${listingQuery({ after: page.after, limit: page.limit })}`);
      return { items: Array.isArray(json.offers) ? json.offers : [], ...(typeof json.next === 'number' ? { next: json.next } : {}) };
    },
    async listDeals(page = {}) {
      const { json } = await request_('GET', `/api/v1/deals${listingQuery({ before: page.before, limit: page.limit })}`);
      return { items: Array.isArray(json.deals) ? json.deals : [], ...(typeof json.next === 'number' ? { next: json.next } : {}) };
    },
    async syncDeal(dealId) {
      await request_('POST', `/api/v1/deals/${dealId}/sync`);
    },
    async acceptMatch(dealId, signature) {
      await request_('POST', `/api/v1/deals/${dealId}/match-acceptance`, { signature });
    },
    async withdrawResourceOffer(id, auth) {
      const request = await signSolverRequest(auth.signer, auth.domain, { party: auth.resourceProvider, action: 'withdraw-resource-offer', target: id });
      await request_('POST', `/api/v1/resource-offers/${id}/withdraw`, request);
    },
    subscribe(subscription, onEvent, onClose) {
      const { signer, domain, events: wanted, ...target } = subscription;
      const wire = 'jobOffer' in target ? { jobOffer: target.jobOffer } : { resourceProvider: target.resourceProvider };
      const sign = () =>
        'jobOffer' in target
          ? signSolverRequest(signer, domain, { party: target.jobCreator, action: 'subscribe-job-offer', target: target.jobOffer })
          : signSolverRequest(signer, domain, { party: target.resourceProvider, action: 'subscribe-resource-provider' });
      let confirmed = false;
      let closed = false;
      let socket: WebSocket | undefined;
      let lostAt: number | undefined;
      let retryTimer: NodeJS.Timeout | undefined;
      let settle: { resolve: () => void; reject: (error: Error) => void };
      const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      ready.catch(() => undefined);

      const giveUp = (error?: Error) => {
        if (closed) return;
        closed = true;
        clearTimeout(retryTimer);
        if (!confirmed) settle.reject(error ?? new SolverError(`cannot reach the solver at ${base}`, { code: 'solver-unreachable', retryable: true }));
        else onClose?.(error);
      };

      const connect = () => {
        const current = new WebSocket(base.replace(/^http/, 'ws') + '/api/v1/events');
        socket = current;
        let live = false;
        current.on('open', () => {
          sign().then(
            (auth) => current.readyState === current.OPEN && current.send(JSON.stringify({ subscribe: wire, auth: toWire(auth) })),
            (error) => giveUp(new SolverError(`cannot sign the subscription: ${(error as Error).message}`, { code: 'solver-refused', cause: error })),
          );
        });
        current.on('message', (data) => {
          let message: any;
          try {
            message = JSON.parse(String(data));
          } catch {
            return;
          }
          if (message.type === 'subscribed') {
            live = true;
            lostAt = undefined;
            if (!confirmed) {
              confirmed = true;
              settle.resolve();
            }
            return;
          }
          if (message.type === 'error') {
            current.removeAllListeners('close');
            current.terminate();
            giveUp(new SolverError(`solver refused the subscription: ${message.error}`, { code: 'solver-refused' }));
            return;
          }
          if (wanted && !wanted.includes(message.type)) return;
          let event: DealEvent | undefined;
          try {
            event = parseDealEvent(message);
          } catch {
            return; // a malformed event is ignored: the chain, not the solver, is the authority
          }
          if (event) onEvent(event);
        });
        current.on('error', () => undefined); // 'close' follows
        current.on('close', () => {
          if (closed) return;
          if (!confirmed) {
            giveUp(new SolverError(`cannot reach the solver at ${base}; is it running? (SERVICE_SOLVER)`, { code: 'solver-unreachable', retryable: true }));
            return;
          }
          lostAt ??= Date.now();
          if (Date.now() - lostAt >= reconnectForMs) {
            giveUp(new SolverError(`lost the connection to the solver at ${base}`, { code: 'solver-unreachable', retryable: true }));
            return;
          }
          retryTimer = setTimeout(connect, live ? 100 : 500);
        });
      };
      connect();
      return {
        ready,
        close: () => {
          closed = true;
          clearTimeout(retryTimer);
          socket?.removeAllListeners('close');
          socket?.terminate();
        },
      };
    },
  };
}

function listingQuery(params: Record<string, number | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, String(value));
  const text = query.toString();
  return text ? `?${text}` : '';
}
