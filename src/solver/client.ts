/**
 * Talking to a solver over HTTP and WebSocket: what resource providers and job creators use.
 */
import type { Hex } from 'viem';
import WebSocket from 'ws';
import { SolverError } from '../lib/errors.js';
import { parseDeal, parseDealEvent, type Deal, type DealEvent } from '../protocol/deals.js';
import { toWire, type JobOffer, type ResourceOffer } from '../protocol/offers.js';

export type JobOfferPostResult = { id: Hex; state: 'pending'; reason: string } | { id: Hex; state: Deal['state']; deal: Deal };

export interface EventSubscription {
  /** Resolves once the solver has confirmed the subscription. */
  ready: Promise<void>;
  close(): void;
}

export interface SolverClient {
  readonly url: string;
  postResourceOffer(offer: ResourceOffer): Promise<Hex>;
  postJobOffer(offer: JobOffer): Promise<JobOfferPostResult>;
  syncDeal(dealId: Hex): Promise<Deal>;
  /** The deal as the solver keeps it (offers re-checked against their signed hashes by `parseDeal`). */
  getDeal(dealId: Hex): Promise<Deal>;
  subscribe(
    subscription: { jobOffer: Hex } | { resourceProvider: Hex },
    onEvent: (event: DealEvent) => void,
    onClose?: (error?: Error) => void,
  ): EventSubscription;
}

export function createSolverClient(url: string): SolverClient {
  const base = url.replace(/\/+$/, '');

  async function request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    let response: Response;
    try {
      response = await fetch(base + path, {
        method,
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(toWire(body)),
      });
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
      return (await request('POST', '/api/v1/resource-offers', offer)).json.id;
    },
    async postJobOffer(offer) {
      const { json } = await request('POST', '/api/v1/job-offers', offer);
      return json.state === 'pending' ? json : { ...json, deal: parseDeal(json.deal) };
    },
    async getDeal(dealId) {
      return parseDeal((await request('GET', `/api/v1/deals/${dealId}`)).json);
    },
    async syncDeal(dealId) {
      return parseDeal((await request('POST', `/api/v1/deals/${dealId}/sync`)).json);
    },
    subscribe(subscription, onEvent, onClose) {
      const socket = new WebSocket(base.replace(/^http/, 'ws') + '/api/v1/events');
      let confirmed = false;
      let settle: { resolve: () => void; reject: (error: Error) => void };
      const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      socket.on('open', () => socket.send(JSON.stringify({ subscribe: subscription })));
      socket.on('message', (data) => {
        let message: any;
        try {
          message = JSON.parse(String(data));
        } catch {
          return;
        }
        if (message.type === 'subscribed') {
          confirmed = true;
          settle.resolve();
          return;
        }
        if (message.type === 'error') {
          settle.reject(new SolverError(`solver refused the subscription: ${message.error}`, { code: 'solver-refused' }));
          return;
        }
        let event: DealEvent | undefined;
        try {
          event = parseDealEvent(message);
        } catch {
          return; // a malformed event is ignored: the chain, not the solver, is the authority
        }
        if (event) onEvent(event);
      });
      socket.on('error', (error) => {
        if (!confirmed) settle.reject(new SolverError(`cannot reach the solver at ${base}: ${error.message}`, { code: 'solver-unreachable', retryable: true }));
      });
      socket.on('close', () => onClose?.());
      return {
        ready,
        close: () => {
          socket.removeAllListeners('close');
          socket.terminate();
        },
      };
    },
  };
}
