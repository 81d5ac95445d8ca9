/**
 * The solver's book: resource offers, job offers waiting for a match, deals and their states, and the
 * nonces of signed requests already seen. SQLite (better-sqlite3) is the record, so a restarted solver
 * carries on; the offers that can still be matched are also held in memory, indexed for matching
 * (matcher.ts). Every change that makes a deal is one transaction.
 */
import type Database from 'better-sqlite3';
import type { Address, Hex } from 'viem';
import { nowSeconds } from '../lib/clock.js';
import { canTransition, isFinal, type DealState } from '../protocol/deal-states.js';
import type { Deal } from '../protocol/deals.js';
import { parseJobOffer, parseResourceOffer, toWire, type JobOffer, type ResourceOffer } from '../protocol/offers.js';
import { openBookDatabase, type BookStatements } from './order-book-db.js';
import { matchJobOffer, misfitOf, ResourceOfferIndex, type ProviderCheck, type StoredResourceOffer } from './matcher.js';

/** What the book asks of the solver about a provider (standing.ts), addresses in lower case. */
export interface ProviderStandingView {
  freeEscrow(provider: string): bigint;
  connected(provider: string): boolean;
  paused(provider: string): boolean;
}

/** What one deal of `offer` locks of its provider's escrow, as the deal contract computes it. */
export const collateralOf = (offer: ResourceOffer): bigint => offer.terms.price * offer.terms.collateralMultiple;

/** A deal matched but not yet agreed on chain. */
export interface MatchedDeal {
  id: Hex;
  provider: string;
  matchedAtMs: number;
  /** When the job creator accepted the match, from which the provider can agree it. */
  acceptedAtMs?: number;
}

export interface PendingJobOffer {
  id: Hex;
  offer: JobOffer;
  reason: string;
}

export type JobOfferOutcome = { deal: Deal } | { pending: PendingJobOffer } | { refused: string };

/** Unix seconds as an SQLite integer; a signed uint256 can be far beyond what a double holds exactly. */
const seconds = (value: bigint): number => (value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value));

export class OrderBook {
  private readonly db: Database.Database;
  private readonly index = new ResourceOfferIndex();
  /** Waiting job offers, oldest first. */
  private readonly pending = new Map<Hex, { offer: JobOffer; reason: string }>();
  private arrivals = 0;
  private readonly statements: BookStatements;
  /** Collateral of deals matched and not yet agreed, by deal, and its total by provider: promised, not yet locked on chain. */
  private readonly reservations = new Map<Hex, { provider: string; collateral: bigint }>();
  private readonly reserved = new Map<string, bigint>();

  /**
   * Opens (or creates) the book at `path`; `:memory:` keeps it in memory only. `standing` says which
   * providers can be matched now: one that holds the collateral of one more deal in escrow (beyond what
   * its matched deals will lock), is connected, and is not paused.
   */
  constructor(path: string, private readonly standing: ProviderStandingView) {
    ({ db: this.db, statements: this.statements } = openBookDatabase(path));
    this.load();
  }

  /** Brings the offers that can still be matched, and the waiting job offers, back into memory. */
  private load(): void {
    const now = Number(nowSeconds());
    const offers = this.db.prepare('SELECT id, offer, used, received_at FROM resource_offers WHERE withdrawn = 0 AND expiry > ? ORDER BY received_at').all(now) as {
      id: Hex;
      offer: string;
      used: number;
      received_at: number;
    }[];
    for (const row of offers) this.index.add({ id: row.id, offer: parseResourceOffer(JSON.parse(row.offer)), used: row.used, receivedAt: row.received_at });
    const waiting = this.db.prepare("SELECT id, offer, reason FROM job_offers WHERE status = 'pending' ORDER BY received_at").all() as { id: Hex; offer: string; reason: string }[];
    for (const row of waiting) this.pending.set(row.id, { offer: parseJobOffer(JSON.parse(row.offer)), reason: row.reason });
    const matched = this.db.prepare("SELECT d.id, d.provider, r.offer FROM deals d JOIN resource_offers r ON r.id = d.resource_offer_id WHERE d.final = 0 AND d.state = 'matched'").all() as {
      id: Hex;
      provider: string;
      offer: string;
    }[];
    for (const row of matched) this.reserve(row.id, row.provider, collateralOf(parseResourceOffer(JSON.parse(row.offer))));
    const last = this.db.prepare('SELECT max(received_at) AS last FROM (SELECT received_at FROM resource_offers UNION ALL SELECT received_at FROM job_offers)').get() as { last: number | null };
    this.arrivals = (last.last ?? -1) + 1;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private reserve(id: Hex, provider: string, collateral: bigint): void {
    this.reservations.set(id, { provider, collateral });
    this.reserved.set(provider, (this.reserved.get(provider) ?? 0n) + collateral);
  }

  private release(id: Hex): void {
    const reservation = this.reservations.get(id);
    if (!reservation) return;
    this.reservations.delete(id);
    const left = (this.reserved.get(reservation.provider) ?? 0n) - reservation.collateral;
    if (left > 0n) this.reserved.set(reservation.provider, left);
    else this.reserved.delete(reservation.provider);
  }

  /** Whether an offer's provider can take one more deal of it now (see the constructor). */
  private readonly providerCheck: ProviderCheck = (stored) => {
    const provider = stored.offer.terms.resourceProvider.toLowerCase();
    const free = this.standing.freeEscrow(provider) - (this.reserved.get(provider) ?? 0n);
    // An empty escrow is never enough, even for an offer that asks no collateral: a key that holds nothing
    // risks nothing by taking jobs it will not run.
    if (free <= 0n || free < collateralOf(stored.offer)) return 'collateral';
    if (!this.standing.connected(provider)) return 'offline';
    if (this.standing.paused(provider)) return 'stale';
    return undefined;
  };

  /** How many offers the book holds in memory: resource offers and waiting job offers. */
  get sizes(): { resourceOffers: number; pendingJobOffers: number } {
    return { resourceOffers: this.index.size, pendingJobOffers: this.pending.size };
  }

  /**
   * Adds a resource offer and matches the waiting job offers that it fits, oldest first. Posting an
   * offer that is already here and still open changes nothing; one that was used up, withdrawn or has
   * expired is refused: an offer is used once, so a copy of it cannot come back.
   */
  addResourceOffer(id: Hex, offer: ResourceOffer, nowSeconds: bigint): { deals: Deal[] } | { refused: string } {
    const known = this.statements.getResourceOffer.get(id) as { used: number; withdrawn: number; expiry: number } | undefined;
    if (known) {
      if (known.withdrawn === 1) return { refused: `resource offer ${id} was withdrawn; sign a new offer with a new nonce` };
      if (BigInt(known.used) >= offer.terms.capacity) return { refused: `resource offer ${id} was already used up; sign a new offer with a new nonce` };
      if (offer.terms.expiry <= nowSeconds) return { refused: `resource offer ${id} has expired; sign a new offer with a new nonce` };
      // Taken out while its provider was away: the provider is back.
      if (known.withdrawn === 2 && this.restoreOffersOf(offer.terms.resourceProvider.toLowerCase(), nowSeconds) > 0) return { deals: this.matchPending(nowSeconds) };
      return { deals: [] };
    }
    const stored: StoredResourceOffer = { id, offer, used: 0, receivedAt: this.arrivals++ };
    const deals: Deal[] = [];
    this.db.transaction(() => {
      this.statements.insertResourceOffer.run(id, offer.terms.resourceProvider.toLowerCase(), JSON.stringify(toWire(offer)), seconds(offer.terms.expiry), stored.receivedAt);
      // Only the new offer can fit a job offer that fitted nothing before: capacity only shrinks.
      for (const [jobId, waiting] of this.pending) {
        if (BigInt(stored.used) >= offer.terms.capacity) break;
        if (waiting.offer.terms.expiry <= nowSeconds) {
          this.expire(jobId);
          continue;
        }
        if (misfitOf(waiting.offer, stored, nowSeconds, this.providerCheck) !== undefined) continue;
        this.pending.delete(jobId);
        this.statements.setJobOfferStatus.run('matched', null, jobId);
        deals.push(this.makeDeal(jobId, waiting.offer, stored));
      }
    })();
    this.index.add(stored);
    return { deals };
  }

  /** Takes a resource offer out of matching for good; returns false when it is not this provider's. */
  withdrawResourceOffer(id: Hex, provider: Address): boolean {
    const row = this.statements.getResourceOffer.get(id) as { provider: string } | undefined;
    if (!row || row.provider !== provider.toLowerCase()) return false;
    this.statements.withdrawResourceOffer.run(id);
    this.index.retire(id, { forget: true });
    return true;
  }

  private makeDeal(id: Hex, offer: JobOffer, stored: StoredResourceOffer): Deal {
    const provider = stored.offer.terms.resourceProvider.toLowerCase();
    stored.used += 1;
    this.statements.useResourceOffer.run(stored.id);
    this.statements.insertDeal.run(id, stored.id, provider, 'matched', Date.now());
    this.reserve(id, provider, collateralOf(stored.offer));
    return { dealId: id, resourceOfferId: stored.id as Hex, state: 'matched', jobOffer: offer, resourceOffer: stored.offer };
  }

  private expire(id: Hex): void {
    this.pending.delete(id);
    this.statements.setJobOfferStatus.run('expired', 'the job offer has expired', id);
  }

  /**
   * Matches a job offer, or keeps it waiting with the reason. The same offer posted again while it waits
   * gets its current state; once it was matched or has expired it is refused.
   */
  addJobOffer(id: Hex, offer: JobOffer, nowSeconds: bigint): JobOfferOutcome {
    const known = this.statements.getJobOffer.get(id) as { status: string; reason: string | null } | undefined;
    if (known) {
      if (known.status === 'matched') {
        const deal = this.getDeal(id);
        return { refused: `job offer ${id} was already matched into a deal (${deal?.state ?? 'matched'}); an offer is used once: sign a new one with a new nonce` };
      }
      if (known.status === 'expired' || offer.terms.expiry <= nowSeconds) {
        if (known.status === 'pending') this.expire(id);
        return { refused: `job offer ${id} has expired; sign a new one with a new nonce` };
      }
      return { pending: { id, offer, reason: this.reasonFor(id, nowSeconds) ?? known.reason ?? 'waiting for a resource offer' } };
    }
    if (offer.terms.expiry <= nowSeconds) return { refused: 'job offer has expired' };
    const result = this.index.match(offer, nowSeconds, this.providerCheck);
    const receivedAt = this.arrivals++;
    const creator = offer.terms.jobCreator.toLowerCase();
    const wire = JSON.stringify(toWire(offer));
    if (!result.matched) {
      this.statements.insertJobOffer.run(id, creator, wire, seconds(offer.terms.expiry), receivedAt, 'pending', result.reason);
      this.pending.set(id, { offer, reason: result.reason });
      return { pending: { id, offer, reason: result.reason } };
    }
    const deal = this.db.transaction(() => {
      this.statements.insertJobOffer.run(id, creator, wire, seconds(offer.terms.expiry), receivedAt, 'matched', null);
      return this.makeDeal(id, offer, result.resourceOffer);
    })();
    this.index.used(result.resourceOffer);
    return { deal };
  }

  /** Why a waiting job offer fits nothing, over the offers as they are now. */
  private reasonFor(id: Hex, nowSeconds: bigint): string | undefined {
    const waiting = this.pending.get(id);
    if (!waiting) return undefined;
    const result = matchJobOffer(waiting.offer, [...this.index.values()], nowSeconds, this.providerCheck);
    return result.matched ? undefined : result.reason;
  }

  /**
   * Matches the waiting job offers again, oldest first: after something that the offers do not say
   * changed (a provider came back, its escrow grew, a pause ended, a deal was dropped).
   */
  matchPending(nowSeconds: bigint): Deal[] {
    const deals: Deal[] = [];
    for (const [jobId, waiting] of [...this.pending]) {
      if (waiting.offer.terms.expiry <= nowSeconds) {
        this.expire(jobId);
        continue;
      }
      const result = this.index.match(waiting.offer, nowSeconds, this.providerCheck);
      if (!result.matched) {
        waiting.reason = result.reason;
        continue;
      }
      deals.push(
        this.db.transaction(() => {
          this.pending.delete(jobId);
          this.statements.setJobOfferStatus.run('matched', null, jobId);
          return this.makeDeal(jobId, waiting.offer, result.resourceOffer);
        })(),
      );
      this.index.used(result.resourceOffer);
    }
    return deals;
  }

  /** The providers of the offers that can still be matched: whose escrow the solver keeps reading. */
  providers(nowSeconds: bigint): Set<string> {
    const providers = new Set<string>();
    for (const stored of this.index.values()) {
      if (stored.offer.terms.expiry > nowSeconds && BigInt(stored.used) < stored.offer.terms.capacity) providers.add(stored.offer.terms.resourceProvider.toLowerCase());
    }
    return providers;
  }

  /** Takes a provider's offers out of matching while it is away; they come back with `restoreOffersOf`. */
  withdrawOffersOf(provider: string): number {
    const ids = [...this.index.values()].filter((stored) => stored.offer.terms.resourceProvider.toLowerCase() === provider).map((stored) => stored.id as Hex);
    this.db.transaction(() => {
      for (const id of ids) this.statements.setAway.run(2, id);
    })();
    for (const id of ids) this.index.retire(id, { forget: true });
    return ids.length;
  }

  /** Brings back the unexpired offers taken out while their provider was away. */
  restoreOffersOf(provider: string, nowSeconds: bigint): number {
    const rows = this.statements.awayOffersOf.all(provider, seconds(nowSeconds)) as { id: Hex; offer: string; used: number; received_at: number }[];
    for (const row of rows) {
      this.statements.setAway.run(0, row.id);
      this.index.add({ id: row.id, offer: parseResourceOffer(JSON.parse(row.offer)), used: row.used, receivedAt: row.received_at });
    }
    return rows.length;
  }

  /** Deals matched and not yet agreed on chain (as far as the book knows). */
  matchedDeals(): MatchedDeal[] {
    return (this.statements.matchedDeals.all() as { id: Hex; provider: string; matched_at: number; accepted_at: number | null }[]).map((row) => ({
      id: row.id,
      provider: row.provider,
      matchedAtMs: row.matched_at,
      ...(row.accepted_at !== null ? { acceptedAtMs: row.accepted_at } : {}),
    }));
  }

  /**
   * Undoes a match that its provider did not agree: the deal is forgotten and its job offer waits again
   * with `reason` (or expires). The resource offer's capacity stays used. Returns the dropped deal.
   */
  dropMatchedDeal(id: Hex, reason: string, nowSeconds: bigint): Deal | undefined {
    const deal = this.getDeal(id);
    if (!deal || deal.state !== 'matched') return undefined;
    const dropped = this.db.transaction(() => {
      if (this.statements.deleteMatchedDeal.run(id).changes !== 1) return false;
      if (deal.jobOffer.terms.expiry <= nowSeconds) this.statements.setJobOfferStatus.run('expired', 'the job offer has expired', id);
      else this.statements.setJobOfferStatus.run('pending', reason, id);
      return true;
    })();
    if (!dropped) return undefined;
    this.release(id);
    if (deal.jobOffer.terms.expiry > nowSeconds) this.pending.set(id, { offer: deal.jobOffer, reason });
    return deal;
  }

  getPending(id: Hex, nowSeconds?: bigint): PendingJobOffer | undefined {
    const waiting = this.pending.get(id);
    if (!waiting) return undefined;
    const reason = nowSeconds === undefined ? waiting.reason : (this.reasonFor(id, nowSeconds) ?? waiting.reason);
    return { id, offer: waiting.offer, reason };
  }

  /** The creator of a job offer the book has seen, matched or not. */
  jobCreatorOf(id: Hex): string | undefined {
    return (this.statements.getJobOffer.get(id) as { creator: string } | undefined)?.creator;
  }

  /** Job offers parsed from their stored text (which never changes), so that a deal read often is parsed once. */
  private readonly parsedJobOffers = new Map<string, JobOffer>();

  private parseStoredJobOffer(text: string): JobOffer {
    let offer = this.parsedJobOffers.get(text);
    if (!offer) {
      offer = parseJobOffer(JSON.parse(text));
      if (this.parsedJobOffers.size >= 4096) this.parsedJobOffers.clear();
      this.parsedJobOffers.set(text, offer);
    }
    return offer;
  }

  getDeal(id: Hex): Deal | undefined {
    const row = this.statements.getDeal.get(id) as
      | { id: Hex; resource_offer_id: Hex; state: DealState; result_cid: string | null; match_acceptance: Hex | null }
      | undefined;
    if (!row) return undefined;
    const job = this.statements.getJobOffer.get(id) as { offer: string };
    const resource = this.statements.getResourceOffer.get(row.resource_offer_id) as { offer: string };
    return {
      dealId: row.id,
      resourceOfferId: row.resource_offer_id,
      state: row.state,
      jobOffer: this.parseStoredJobOffer(job.offer),
      resourceOffer: this.index.get(row.resource_offer_id)?.offer ?? parseResourceOffer(JSON.parse(resource.offer)),
      ...(row.result_cid ? { resultCid: row.result_cid } : {}),
      ...(row.match_acceptance ? { matchAcceptance: row.match_acceptance } : {}),
    };
  }

  /** Keeps the job creator's (already checked) acceptance of a matched deal; false when it has one or moved on. */
  acceptMatch(id: Hex, signature: Hex): boolean {
    return this.statements.acceptMatch.run(signature, Date.now(), id).changes > 0;
  }

  /**
   * The resource offers open now (unexpired, capacity left, not withdrawn), in the order they arrived,
   * those that arrived after `after` (a position from an earlier page), at most `limit`; `next` is where
   * the next page starts, absent on the last page.
   */
  openResourceOffers(nowSeconds: bigint, page: { after?: number; limit: number }): { offers: Array<StoredResourceOffer & { id: Hex }>; next?: number } {
    const open = [...this.index.values()]
      .filter((stored) => stored.receivedAt > (page.after ?? -1) && stored.offer.terms.expiry > nowSeconds && BigInt(stored.used) < stored.offer.terms.capacity)
      .sort((a, b) => a.receivedAt - b.receivedAt);
    const offers = open.slice(0, page.limit) as Array<StoredResourceOffer & { id: Hex }>;
    return open.length > page.limit ? { offers, next: offers[offers.length - 1]!.receivedAt } : { offers };
  }

  /**
   * Deals newest first (matched, on chain and final alike), those made before `before` (a position from
   * an earlier page), at most `limit`; `next` is where the next page starts, absent on the last page.
   */
  recentDeals(page: { before?: number; limit: number }): { deals: Array<Deal & { matchedAtMs: number | null }>; next?: number } {
    const rows = this.statements.recentDeals.all(page.before ?? Number.MAX_SAFE_INTEGER, page.limit + 1) as { position: number; id: Hex; matched_at: number | null }[];
    const shown = rows.slice(0, page.limit);
    const deals = shown.map((row) => ({ ...this.getDeal(row.id)!, matchedAtMs: row.matched_at }));
    return rows.length > page.limit ? { deals, next: shown[shown.length - 1]!.position } : { deals };
  }

  /** Deals not yet in a final state: what a restarted solver checks against the chain. */
  openDealIds(): Hex[] {
    return (this.statements.openDeals.all() as { id: Hex }[]).map((row) => row.id);
  }

  /** A provider's deals that are matched but not yet on chain: what it is told again when it subscribes. */
  matchedDealIdsOf(provider: Address): Hex[] {
    return (this.statements.matchedDealsOf.all(provider.toLowerCase()) as { id: Hex }[]).map((row) => row.id);
  }

  /** Moves a deal along the shared transition table (compare-and-set); undefined when not allowed. */
  advance(id: Hex, to: DealState, resultCid?: string): Deal | undefined {
    const row = this.statements.getDeal.get(id) as { state: DealState } | undefined;
    if (!row || !canTransition(row.state, to)) return undefined;
    const changed = this.statements.advanceDeal.run(to, resultCid ?? null, isFinal(to) ? 1 : 0, id, row.state).changes;
    if (!changed) return undefined;
    if (row.state === 'matched') this.release(id); // the chain holds the collateral now
    return this.getDeal(id);
  }

  /** Spends a signed request's nonce; false when it was spent before (a replay). */
  spendNonce(party: Address, nonce: bigint, expiry: bigint, nowSeconds: bigint): boolean {
    if (Math.random() < 0.01) this.statements.pruneNonces.run(seconds(nowSeconds));
    return this.statements.insertNonce.run(party.toLowerCase(), nonce.toString(), seconds(expiry)).changes === 1;
  }

  /** Drops expired offers from memory and marks expired waiting job offers (they stay in the record). */
  prune(nowSeconds: bigint): void {
    for (const stored of [...this.index.values()]) {
      if (stored.offer.terms.expiry <= nowSeconds) this.index.retire(stored.id, { forget: true });
    }
    for (const [id, waiting] of [...this.pending]) if (waiting.offer.terms.expiry <= nowSeconds) this.expire(id);
    this.statements.pruneNonces.run(seconds(nowSeconds));
  }
}
