/**
 * The solver's HTTP API: signed offers in, deals and job offers out, and the two writes that only move a
 * deal on (a job creator's acceptance of its match, a request to read a deal from the chain again), and
 * public, paginated listings of the open resource offers and the recent deals. Every
 * write is checked for its signature before it counts; a refusal costs the caller's IP a token, so that a
 * flood of bad requests stops costing signature checks.
 */
import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Hex } from 'viem';
import type { Logger } from '../lib/logger.js';
import type { Deal, DealEvent } from '../protocol/deals.js';
import {
  jobOfferId,
  parseJobOffer,
  parseResourceOffer,
  publicJobOffer,
  resourceOfferId,
  toWire,
  verifyJobOfferSignature,
  verifyMatchAcceptance,
  verifyResourceOfferSignature,
  type OfferDomain,
  type SignatureVerifier,
} from '../protocol/offers.js';
import { jobOfferProblem, resourceOfferProblem } from './bounds.js';
import type { OrderBook } from './order-book.js';
import type { RateLimiter } from './rate-limit.js';
import { checkSolverRequest, parseSolverRequest } from './requests.js';

export interface SolverRoutesComponents {
  domain: OfferDomain;
  signatureVerifier?: SignatureVerifier;
  /** The open order book; throws when the solver is stopped. */
  book: () => OrderBook;
  perIp: RateLimiter;
  perAddress: RateLimiter;
  now: () => bigint;
  logger: Logger;
  publish: (event: DealEvent) => void;
  /** Reads a provider's free escrow from the chain into its standing. */
  readEscrow: (provider: string) => Promise<unknown>;
  /** Catches the solver's view of a deal up with the chain. */
  syncDeal: (dealId: Hex) => Promise<Deal | undefined>;
}

/** The most items one page of a public listing holds, and how many when the caller does not say. */
export const LISTING_LIMITS = { max: 100, default: 50 } as const;

/**
 * `?limit=` and a cursor (`?after=` or `?before=`, a position from an earlier page's `next`) of a public
 * listing, or one line saying what is wrong with them.
 */
function listingPage(c: Context, cursorName: 'after' | 'before'): { limit: number; cursor?: number } | string {
  const limitText = c.req.query('limit');
  const cursorText = c.req.query(cursorName);
  let limit: number = LISTING_LIMITS.default;
  if (limitText !== undefined) {
    if (!/^\d{1,6}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > LISTING_LIMITS.max) {
      return `limit must be a whole number from 1 to ${LISTING_LIMITS.max}, not ${JSON.stringify(limitText.slice(0, 32))}`;
    }
    limit = Number(limitText);
  }
  if (cursorText === undefined) return { limit };
  if (!/^\d{1,15}$/.test(cursorText)) return `${cursorName} must be the \`next\` of an earlier page (a whole number), not ${JSON.stringify(cursorText.slice(0, 32))}`;
  return { limit, cursor: Number(cursorText) };
}

function clientIp(c: Context): string {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress ?? 'unknown';
}

export function solverRoutes(maxBodyBytes: number, components: SolverRoutesComponents): Hono {
  const { domain, signatureVerifier, book, perIp, perAddress, now, logger, publish, readEscrow, syncDeal } = components;
  const tooMany = (c: Context, who: string, retryMs: number) => {
    c.header('retry-after', String(Math.ceil(retryMs / 1000)));
    return c.json({ error: `too many requests from ${who}; retry in ${retryMs} ms` }, 429);
  };

  const app = new Hono();
  app.use('*', bodyLimit({
    maxSize: maxBodyBytes,
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
    if (!(await verifyResourceOfferSignature(domain, offer, signatureVerifier))) {
      return refuse(c, 401, 'resource offer signature does not match resourceProvider');
    }
    const provider = offer.terms.resourceProvider.toLowerCase();
    const wait = perAddress.take(provider);
    if (wait > 0) return tooMany(c, offer.terms.resourceProvider, wait);
    await readEscrow(provider); // fresh for the offer's first matches
    const id = resourceOfferId(domain, offer.terms);
    const outcome = book().addResourceOffer(id, offer, now());
    if ('refused' in outcome) return refuse(c, 409, outcome.refused);
    for (const deal of outcome.deals) publish({ type: 'deal:matched', deal });
    return c.json({ id }, 201);
  });

  app.post('/api/v1/resource-offers/:id/withdraw', async (c) => {
    const id = c.req.param('id').toLowerCase() as Hex;
    const request = parseSolverRequest(await readJson(c.req.raw));
    if (typeof request === 'string') return refuse(c, 400, request);
    const problem = await checkSolverRequest(domain, request, { action: 'withdraw-resource-offer', target: id, nowSeconds: now() }, signatureVerifier);
    if (problem) return refuse(c, 401, problem);
    const wait = perAddress.take(request.party.toLowerCase());
    if (wait > 0) return tooMany(c, request.party, wait);
    if (!book().spendNonce(request.party, request.nonce, request.expiry, now())) return refuse(c, 409, 'signed request was already used (replay refused); sign a fresh one');
    if (!book().withdrawResourceOffer(id, request.party)) return refuse(c, 404, `no resource offer ${id} of ${request.party}`);
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
    if (!(await verifyJobOfferSignature(domain, offer, signatureVerifier))) {
      return refuse(c, 401, 'job offer signature does not match jobCreator');
    }
    const wait = perAddress.take(offer.terms.jobCreator.toLowerCase());
    if (wait > 0) return tooMany(c, offer.terms.jobCreator, wait);
    const id = jobOfferId(domain, offer.terms);
    const outcome = book().addJobOffer(id, offer, now());
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
    const deal = book().getDeal(id);
    if (deal) return c.json({ id, state: deal.state, deal: toWire(deal) });
    const pending = book().getPending(id, now());
    if (pending) return c.json({ id, state: 'pending', reason: pending.reason });
    return c.json({ error: `no job offer ${id}` }, 404);
  });

  // Public, read-only listings for dashboards and explorers. Each offer and deal carries what its parties
  // signed, so a reader checks it for itself (signatures, and deal ids against the chain) rather than
  // believing the solver.
  app.get('/api/v1/resource-offers', (c) => {
    const page = listingPage(c, 'after');
    if (typeof page === 'string') return refuse(c, 400, page);
    const listed = book().openResourceOffers(now(), { after: page.cursor, limit: page.limit });
    return c.json({
      offers: listed.offers.map((stored) => ({ id: stored.id, used: stored.used, offer: toWire(stored.offer) })),
      next: listed.next ?? null,
    });
  });

  app.get('/api/v1/deals', (c) => {
    const page = listingPage(c, 'before');
    if (typeof page === 'string') return refuse(c, 400, page);
    const listed = book().recentDeals({ before: page.cursor, limit: page.limit });
    // A job's inputs (a person's prompt) stay out of a public listing; its signed inputsHash still binds them.
    return c.json({ deals: listed.deals.map((deal) => toWire({ ...deal, jobOffer: publicJobOffer(deal.jobOffer) })), next: listed.next ?? null });
  });

  app.get('/api/v1/deals/:id', (c) => {
    const deal = book().getDeal(c.req.param('id').toLowerCase() as Hex);
    return deal ? c.json(toWire(deal)) : c.json({ error: 'no such deal' }, 404);
  });

  // The job creator's acceptance of its match, which the provider needs to agree the deal: checked here so
  // that nobody else's signature is passed on, then told to both parties with the deal.
  app.post('/api/v1/deals/:id/match-acceptance', async (c) => {
    const deal = book().getDeal(c.req.param('id').toLowerCase() as Hex);
    if (!deal) return refuse(c, 404, 'no such deal');
    const body = (await readJson(c.req.raw)) as { signature?: unknown } | undefined;
    const signature = typeof body?.signature === 'string' && /^0x[0-9a-fA-F]{2,1024}$/.test(body.signature) ? (body.signature as Hex) : undefined;
    if (!signature || !(await verifyMatchAcceptance(domain, deal, signature, signatureVerifier))) {
      return refuse(c, 401, 'signature is not the job creator’s acceptance of this match');
    }
    if (deal.state !== 'matched') return c.json(toWire(deal));
    if (book().acceptMatch(deal.dealId, signature)) {
      const accepted = book().getDeal(deal.dealId)!;
      publish({ type: 'deal:matched', deal: accepted });
      return c.json(toWire(accepted));
    }
    return c.json(toWire(book().getDeal(deal.dealId)));
  });

  // Anyone may ask the solver to look at the chain again for a deal; it believes only the chain.
  app.post('/api/v1/deals/:id/sync', async (c) => {
    const deal = await syncDeal(c.req.param('id').toLowerCase() as Hex);
    return deal ? c.json(toWire(deal)) : c.json({ error: 'no such deal' }, 404);
  });

  return app;
}
