/**
 * Matching, as a pure function: which resource offer fits a job offer (`misfitOf`: what the offers' details
 * say, then the deal contract's own checks of their terms in `protocol/agreement.ts`), and when none does,
 * why, summarised over all offers.
 */
import { termsMisfitOf, type TermsMisfit } from '../protocol/agreement.js';
import { machineMisfitOf, type MachineMisfit } from '../protocol/machine.js';
import type { JobOffer, ResourceOffer } from '../protocol/offers.js';

export interface StoredResourceOffer {
  id: string;
  offer: ResourceOffer;
  /** Deals already made from this offer. */
  used: number;
  /** Order of arrival, for "oldest wins" among equal prices. */
  receivedAt: number;
}

export type MatchResult =
  | { matched: true; resourceOffer: StoredResourceOffer; mediator: `0x${string}` }
  | { matched: false; reason: string };

export type Misfit =
  | 'expired'
  | 'full'
  | 'engine'
  | 'module'
  | 'refused'
  | MachineMisfit
  | TermsMisfit
  | ProviderMisfit;

/** What the solver knows of an offer's provider beyond what it signed (see standing.ts). */
export type ProviderMisfit = 'collateral' | 'offline' | 'stale';

/** Whether an offer's provider can be matched now; undefined when it can. */
export type ProviderCheck = (stored: StoredResourceOffer) => ProviderMisfit | undefined;

// What the offers that fail each test lack, as [one offer, several offers], after the count.
const misfitText: Record<Misfit, [string, string]> = {
  expired: ['offer has expired', 'offers have expired'],
  full: ['offer has no capacity left', 'offers have no capacity left'],
  engine: ['offer cannot run this engine', 'offers cannot run this engine'],
  module: ['offer does not allow this module', 'offers do not allow this module'],
  refused: ['offer refuses this module', 'offers refuse this module'],
  cpu: ['offer has too little CPU', 'offers have too little CPU'],
  gpu: ['offer has too few GPUs', 'offers have too few GPUs'],
  ram: ['offer has too little RAM', 'offers have too little RAM'],
  'gpu memory': ['offer has too little GPU memory', 'offers have too little GPU memory'],
  price: ['offer costs more than the price ceiling', 'offers cost more than the price ceiling'],
  'least collateral': ['offer puts up less collateral than the job asks', 'offers put up less collateral than the job asks'],
  mediator: ['offer shares no mediator', 'offers share no mediator'],
  timeouts: ['offer does not accept the job’s timeouts', 'offers do not accept the job’s timeouts'],
  collateral: ["offer's provider has too little collateral in escrow", "offers' providers have too little collateral in escrow"],
  offline: ["offer's provider is not connected", "offers' providers are not connected"],
  stale: ["offer's provider did not agree a matched deal in time", "offers' providers did not agree a matched deal in time"],
};

/**
 * What keeps `stored` from fitting `job`, or undefined when it fits. The provider is asked about last, so
 * that an offer that could never fit says so rather than that its provider is away.
 */
export function misfitOf(job: JobOffer, stored: StoredResourceOffer, nowSeconds: bigint, provider?: ProviderCheck): Misfit | undefined {
  const { terms, details } = stored.offer;
  if (terms.expiry <= nowSeconds) return 'expired';
  if (BigInt(stored.used) >= terms.capacity) return 'full';
  if (!details.engines.includes(job.engine)) return 'engine';
  if (details.modules.length > 0 && !details.modules.includes(job.moduleName) && !details.modules.includes(job.terms.moduleId)) {
    return 'module';
  }
  if (details.refusedModules?.some((m) => m === job.moduleName || m.toLowerCase() === job.terms.moduleId.toLowerCase())) return 'refused';
  const machine = machineMisfitOf(job.machine, details.machine);
  if (machine) return machine;
  // As the deal contract checks at agreement: price, least collateral, a shared mediator, the timeouts.
  return termsMisfitOf(job.terms, terms) ?? provider?.(stored);
}

/** The first of the job creator's mediators that the provider also trusts (addresses as addresses). */
export function sharedMediator(job: JobOffer, offer: ResourceOffer): `0x${string}` | undefined {
  const trusted = new Set(offer.terms.mediators.map((m) => m.toLowerCase()));
  return job.terms.mediators.find((m) => trusted.has(m.toLowerCase()));
}

export function matchJobOffer(job: JobOffer, offers: readonly StoredResourceOffer[], nowSeconds: bigint, provider?: ProviderCheck): MatchResult {
  if (job.terms.expiry <= nowSeconds) return { matched: false, reason: 'the job offer has expired' };
  const counts = new Map<Misfit, number>();
  const fits: StoredResourceOffer[] = [];
  for (const stored of offers) {
    const misfit = misfitOf(job, stored, nowSeconds, provider);
    if (misfit === undefined) fits.push(stored);
    else counts.set(misfit, (counts.get(misfit) ?? 0) + 1);
  }
  if (fits.length === 0) {
    if (offers.length === 0) return { matched: false, reason: 'no resource offers are posted' };
    const parts = [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([misfit, n]) => `${n} ${misfitText[misfit][n === 1 ? 0 : 1]}`);
    return { matched: false, reason: `no offer fits: ${parts.join(', ')}` };
  }
  // Cheapest, then oldest, then by id so that ties break the same way everywhere.
  fits.sort((a, b) =>
    a.offer.terms.price !== b.offer.terms.price
      ? (a.offer.terms.price < b.offer.terms.price ? -1 : 1)
      : a.receivedAt !== b.receivedAt
        ? a.receivedAt - b.receivedAt
        : a.id < b.id ? -1 : 1,
  );
  const best = fits[0]!;
  return { matched: true, resourceOffer: best, mediator: sharedMediator(job, best.offer)! };
}

/** Cheapest, then oldest, then by id: the order in which fitting offers win. */
function compareOffers(a: StoredResourceOffer, b: StoredResourceOffer): number {
  const pa = a.offer.terms.price;
  const pb = b.offer.terms.price;
  if (pa !== pb) return pa < pb ? -1 : 1;
  if (a.receivedAt !== b.receivedAt) return a.receivedAt - b.receivedAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Where `stored` goes in `list` (sorted by compareOffers). */
function insertionPoint(list: StoredResourceOffer[], stored: StoredResourceOffer): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareOffers(list[mid]!, stored) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * The resource offers a solver holds, indexed for matching: one price-sorted list per engine and
 * mediator, so that a job offer looks only at offers that can run its engine and share one of its
 * mediators, cheapest first, and stops at the first fit or at its price ceiling. `match` gives the same
 * answer as `matchJobOffer` over all the offers (a property test checks it); only when nothing fits does
 * it look at every offer, to say why.
 */
export class ResourceOfferIndex {
  private readonly all = new Map<string, StoredResourceOffer>();
  private readonly lists = new Map<string, StoredResourceOffer[]>();

  get size(): number {
    return this.all.size;
  }

  get(id: string): StoredResourceOffer | undefined {
    return this.all.get(id);
  }

  values(): IterableIterator<StoredResourceOffer> {
    return this.all.values();
  }

  private keysOf(stored: StoredResourceOffer): string[] {
    const mediators = new Set(stored.offer.terms.mediators.map((m) => m.toLowerCase()));
    return [...new Set(stored.offer.details.engines)].flatMap((engine) => [...mediators].map((m) => `${engine}|${m}`));
  }

  add(stored: StoredResourceOffer): void {
    if (this.all.has(stored.id)) return;
    this.all.set(stored.id, stored);
    if (BigInt(stored.used) >= stored.offer.terms.capacity) return; // kept for reasons only
    for (const key of this.keysOf(stored)) {
      let list = this.lists.get(key);
      if (!list) this.lists.set(key, (list = []));
      list.splice(insertionPoint(list, stored), 0, stored);
    }
  }

  /** Takes an offer out of the lists that matching walks (it stays known, for reasons), or out entirely. */
  retire(id: string, options: { forget?: boolean } = {}): void {
    const stored = this.all.get(id);
    if (!stored) return;
    if (options.forget) this.all.delete(id);
    for (const key of this.keysOf(stored)) {
      const list = this.lists.get(key);
      if (!list) continue;
      const at = insertionPoint(list, stored);
      if (list[at] === stored) list.splice(at, 1);
      if (list.length === 0) this.lists.delete(key);
    }
  }

  match(job: JobOffer, nowSeconds: bigint, provider?: ProviderCheck): MatchResult {
    if (job.terms.expiry <= nowSeconds) return { matched: false, reason: 'the job offer has expired' };
    let best: StoredResourceOffer | undefined;
    const spent: StoredResourceOffer[] = [];
    for (const mediator of new Set(job.terms.mediators.map((m) => m.toLowerCase()))) {
      const list = this.lists.get(`${job.engine}|${mediator}`);
      if (!list) continue;
      for (const stored of list) {
        if (stored.offer.terms.price > job.terms.maxPrice) break;
        if (best && compareOffers(stored, best) >= 0) break;
        const misfit = misfitOf(job, stored, nowSeconds, provider);
        if (misfit === undefined) {
          best = stored;
          break;
        }
        if (misfit === 'full' || misfit === 'expired') spent.push(stored);
      }
    }
    for (const stored of spent) this.retire(stored.id);
    if (best) return { matched: true, resourceOffer: best, mediator: sharedMediator(job, best.offer)! };
    return matchJobOffer(job, [...this.all.values()], nowSeconds, provider);
  }

  /** Call after a deal took one of `stored`'s capacity. */
  used(stored: StoredResourceOffer): void {
    if (BigInt(stored.used) >= stored.offer.terms.capacity) this.retire(stored.id);
  }
}
