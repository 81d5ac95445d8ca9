/**
 * The solver's book: resource offers, job offers waiting for a match, deals and their states, and the
 * nonces of signed requests already seen. SQLite (better-sqlite3) is the record, so a restarted solver
 * carries on; the offers that can still be matched are also held in memory, indexed for matching
 * (matcher.ts). Every change that makes a deal is one transaction.
 */
import Database from 'better-sqlite3';
import type { Address, Hex } from 'viem';
import { canTransition, isFinal, type DealState } from '../protocol/deal-states.js';
import type { Deal } from '../protocol/deals.js';
import { parseJobOffer, parseResourceOffer, toWire, type JobOffer, type ResourceOffer } from '../protocol/offers.js';
import { matchJobOffer, misfitOf, ResourceOfferIndex, type StoredResourceOffer } from './matcher.js';

export interface PendingJobOffer {
  id: Hex;
  offer: JobOffer;
  reason: string;
}

export type JobOfferOutcome = { deal: Deal } | { pending: PendingJobOffer } | { refused: string };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resource_offers (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  offer TEXT NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  expiry INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  withdrawn INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_offers (
  id TEXT PRIMARY KEY,
  creator TEXT NOT NULL,
  offer TEXT NOT NULL,
  expiry INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'matched', 'expired')),
  reason TEXT
);
CREATE INDEX IF NOT EXISTS job_offers_pending ON job_offers (status) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS deals (
  id TEXT PRIMARY KEY,
  resource_offer_id TEXT NOT NULL REFERENCES resource_offers (id),
  provider TEXT NOT NULL,
  state TEXT NOT NULL,
  result_cid TEXT,
  match_acceptance TEXT,
  final INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deals_open ON deals (final, provider);
CREATE TABLE IF NOT EXISTS request_nonces (
  party TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expiry INTEGER NOT NULL,
  PRIMARY KEY (party, nonce)
) WITHOUT ROWID;
`;

/** Unix seconds as an SQLite integer; a signed uint256 can be far beyond what a double holds exactly. */
const seconds = (value: bigint): number => (value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value));

export class OrderBook {
  private readonly db: Database.Database;
  private readonly index = new ResourceOfferIndex();
  /** Waiting job offers, oldest first. */
  private readonly pending = new Map<Hex, { offer: JobOffer; reason: string }>();
  private arrivals = 0;
  private readonly statements;

  /** Opens (or creates) the book at `path`; `:memory:` keeps it in memory only. */
  constructor(path = ':memory:') {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
    this.statements = {
      insertResourceOffer: this.db.prepare('INSERT INTO resource_offers (id, provider, offer, used, expiry, received_at) VALUES (?, ?, ?, 0, ?, ?)'),
      getResourceOffer: this.db.prepare('SELECT * FROM resource_offers WHERE id = ?'),
      useResourceOffer: this.db.prepare('UPDATE resource_offers SET used = used + 1 WHERE id = ?'),
      withdrawResourceOffer: this.db.prepare('UPDATE resource_offers SET withdrawn = 1 WHERE id = ?'),
      insertJobOffer: this.db.prepare('INSERT INTO job_offers (id, creator, offer, expiry, received_at, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      getJobOffer: this.db.prepare('SELECT * FROM job_offers WHERE id = ?'),
      setJobOfferStatus: this.db.prepare('UPDATE job_offers SET status = ?, reason = ? WHERE id = ?'),
      insertDeal: this.db.prepare('INSERT INTO deals (id, resource_offer_id, provider, state) VALUES (?, ?, ?, ?)'),
      getDeal: this.db.prepare('SELECT * FROM deals WHERE id = ?'),
      advanceDeal: this.db.prepare('UPDATE deals SET state = ?, result_cid = coalesce(?, result_cid), final = ? WHERE id = ? AND state = ?'),
      acceptMatch: this.db.prepare("UPDATE deals SET match_acceptance = ? WHERE id = ? AND state = 'matched' AND match_acceptance IS NULL"),
      openDeals: this.db.prepare('SELECT id FROM deals WHERE final = 0'),
      matchedDealsOf: this.db.prepare("SELECT id FROM deals WHERE final = 0 AND provider = ? AND state = 'matched'"),
      insertNonce: this.db.prepare('INSERT OR IGNORE INTO request_nonces (party, nonce, expiry) VALUES (?, ?, ?)'),
      pruneNonces: this.db.prepare('DELETE FROM request_nonces WHERE expiry <= ?'),
    };
    this.load();
  }

  /** Brings the offers that can still be matched, and the waiting job offers, back into memory. */
  private load(): void {
    const now = Math.floor(Date.now() / 1000);
    const offers = this.db.prepare('SELECT id, offer, used, received_at FROM resource_offers WHERE withdrawn = 0 AND expiry > ? ORDER BY received_at').all(now) as {
      id: Hex;
      offer: string;
      used: number;
      received_at: number;
    }[];
    for (const row of offers) this.index.add({ id: row.id, offer: parseResourceOffer(JSON.parse(row.offer)), used: row.used, receivedAt: row.received_at });
    const waiting = this.db.prepare("SELECT id, offer, reason FROM job_offers WHERE status = 'pending' ORDER BY received_at").all() as { id: Hex; offer: string; reason: string }[];
    for (const row of waiting) this.pending.set(row.id, { offer: parseJobOffer(JSON.parse(row.offer)), reason: row.reason });
    const last = this.db.prepare('SELECT max(received_at) AS last FROM (SELECT received_at FROM resource_offers UNION ALL SELECT received_at FROM job_offers)').get() as { last: number | null };
    this.arrivals = (last.last ?? -1) + 1;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

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
      if (known.withdrawn) return { refused: `resource offer ${id} was withdrawn; sign a new offer with a new nonce` };
      if (BigInt(known.used) >= offer.terms.capacity) return { refused: `resource offer ${id} was already used up; sign a new offer with a new nonce` };
      if (offer.terms.expiry <= nowSeconds) return { refused: `resource offer ${id} has expired; sign a new offer with a new nonce` };
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
        if (misfitOf(waiting.offer, stored, nowSeconds) !== undefined) continue;
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
    stored.used += 1;
    this.statements.useResourceOffer.run(stored.id);
    this.statements.insertDeal.run(id, stored.id, stored.offer.terms.resourceProvider.toLowerCase(), 'matched');
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
    const result = this.index.match(offer, nowSeconds);
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
    const result = matchJobOffer(waiting.offer, [...this.index.values()], nowSeconds);
    return result.matched ? undefined : result.reason;
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
    return this.statements.acceptMatch.run(signature, id).changes > 0;
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
    return changed ? this.getDeal(id) : undefined;
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
