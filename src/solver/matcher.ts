/**
 * Matching, as a pure function: which resource offer fits a job offer (DESIGN.md section 5), and when
 * none does, why, summarised over all offers.
 */
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

type Misfit =
  | 'expired'
  | 'full'
  | 'engine'
  | 'module'
  | 'cpu'
  | 'gpu'
  | 'ram'
  | 'gpu memory'
  | 'price'
  | 'mediator'
  | 'timeouts';

// What the offers that fail each test lack, as [one offer, several offers].
const misfitText: Record<Misfit, [string, string]> = {
  expired: ['has expired', 'have expired'],
  full: ['has no capacity left', 'have no capacity left'],
  engine: ['cannot run this engine', 'cannot run this engine'],
  module: ['does not allow this module', 'do not allow this module'],
  cpu: ['has too little CPU', 'have too little CPU'],
  gpu: ['has too few GPUs', 'have too few GPUs'],
  ram: ['has too little RAM', 'have too little RAM'],
  'gpu memory': ['has too little GPU memory', 'have too little GPU memory'],
  price: ['costs more than the price ceiling', 'cost more than the price ceiling'],
  mediator: ['shares no mediator', 'share no mediator'],
  timeouts: ['does not accept the job’s timeouts', 'do not accept the job’s timeouts'],
};

function misfitOf(job: JobOffer, stored: StoredResourceOffer, nowSeconds: bigint): Misfit | undefined {
  const { terms, details } = stored.offer;
  if (terms.expiry <= nowSeconds) return 'expired';
  if (BigInt(stored.used) >= terms.capacity) return 'full';
  if (!details.engines.includes(job.engine)) return 'engine';
  if (details.modules.length > 0 && !details.modules.includes(job.moduleName) && !details.modules.includes(job.terms.moduleId)) {
    return 'module';
  }
  if (details.machine.cpu < job.machine.cpu) return 'cpu';
  if (details.machine.gpu < job.machine.gpu) return 'gpu';
  if (details.machine.ram < job.machine.ram) return 'ram';
  if ((job.machine.gpuMemory ?? 0) > (details.machine.gpuMemory ?? 0)) return 'gpu memory';
  if (terms.price > job.terms.maxPrice) return 'price';
  if (sharedMediator(job, stored.offer) === undefined) return 'mediator';
  // As the deal contract checks at agreement: enough time to run, collateral not held too long.
  if (job.terms.submitTimeout < terms.minSubmitTimeout || job.terms.judgeWindow > terms.maxJudgeWindow) return 'timeouts';
  return undefined;
}

/** The first of the job creator's mediators that the provider also trusts (addresses as addresses). */
export function sharedMediator(job: JobOffer, offer: ResourceOffer): `0x${string}` | undefined {
  const trusted = new Set(offer.terms.mediators.map((m) => m.toLowerCase()));
  return job.terms.mediators.find((m) => trusted.has(m.toLowerCase()));
}

export function matchJobOffer(job: JobOffer, offers: readonly StoredResourceOffer[], nowSeconds: bigint): MatchResult {
  if (job.terms.expiry <= nowSeconds) return { matched: false, reason: 'the job offer has expired' };
  const counts = new Map<Misfit, number>();
  const fits: StoredResourceOffer[] = [];
  for (const stored of offers) {
    const misfit = misfitOf(job, stored, nowSeconds);
    if (misfit === undefined) fits.push(stored);
    else counts.set(misfit, (counts.get(misfit) ?? 0) + 1);
  }
  if (fits.length === 0) {
    if (offers.length === 0) return { matched: false, reason: 'no resource offers are posted' };
    const parts = [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([misfit, n]) => (n === 1 ? `1 offer ${misfitText[misfit][0]}` : `${n} offers ${misfitText[misfit][1]}`));
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
