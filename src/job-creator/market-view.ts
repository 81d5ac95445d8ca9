/**
 * The market as a reader sees it: who offers what at which price, and the deals, their states and prices.
 * The chain is the record of deals: their terms, states, prices and times come from the deal contract's
 * logs, scanned once and then block by block as the chain grows. The solver is only asked what the chain
 * cannot say, and nothing it says is shown unchecked: an open offer only when its provider's signature and
 * its details hash hold; a deal's module name only when the job offer it lists hashes to a deal id that is on
 * chain. Snapshots are cached briefly and shared, so that many viewers cost the chain and the solver little.
 */
import type { Address, Hex } from 'viem';
import { getDealEvents, type DealEventLog, type LilypadPublicClient } from '../chain/index.js';
import type { ChainDealState } from '../chain/deal-state.js';
import { isFinal } from '../protocol/deal-states.js';
import type { Engine, MachineSpec } from '../protocol/machine.js';
import { jobOfferId, parsePublicJobOffer, parseResourceOffer, resourceOfferId, verifyResourceOfferSignature, type OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';

/** Where the market is read: what JobNetwork.market gives. */
export interface MarketSources {
  publicClient: LilypadPublicClient;
  domain: OfferDomain;
  solver: SolverClient;
  /** The first block that can hold a deal (the deal contract's deployment block); 0 reads from the chain's start. */
  fromBlock: bigint;
}

export interface MarketOffer {
  id: Hex;
  provider: Address;
  price: bigint;
  collateral: bigint;
  capacity: bigint;
  used: number;
  machine: MachineSpec;
  engines: Engine[];
  /** Module names or ids the provider runs; empty: any module. */
  modules: string[];
  /** Unix seconds. */
  expiry: bigint;
}

export interface MarketProvider {
  address: Address;
  /** From its newest verified open offer; absent when it has none open. */
  machine?: MachineSpec;
  modules?: string[];
  /** Its cheapest and dearest open offer. */
  price?: { low: bigint; high: bigint };
  openOffers: number;
  /** Deals agreed on chain, seen since the scan's first block. */
  deals: number;
  inFlight: number;
  /** Deals whose results were accepted (by the job creator, after the judge window, or by a mediator): the provider was paid. */
  jobsDone: number;
  earned: bigint;
}

export interface MarketDeal {
  dealId: Hex;
  /** The module name the job creator signed; absent when the solver's record of the deal did not verify, or it has none. */
  module?: string;
  provider: Address;
  jobCreator: Address;
  price: bigint;
  collateral: bigint;
  state: Exclude<ChainDealState, 'none'>;
  final: boolean;
  /** The time of the block that agreed it; absent until read. */
  agreedAtMs?: number;
  resultCid?: string;
}

export interface MarketSnapshot {
  takenAtMs: number;
  chain: {
    chainId: number;
    dealsAddress: Address;
    headBlock: bigint;
    /** The last block whose logs are read; behind `headBlock` while a long chain is still being caught up with. */
    readToBlock: bigint;
    error?: string;
  };
  solver: { url: string; error?: string };
  totals: { providers: number; openOffers: number; dealsAgreed: number; inFlight: number; finished: number; jobsDone: number; paidOut: bigint };
  providers: MarketProvider[];
  offers: MarketOffer[];
  /** Offers the solver listed that did not verify, with why: not in `offers`. */
  refusedOffers: { id: string; reason: string }[];
  /** The most recent deals on chain, newest first. */
  deals: MarketDeal[];
  /** Deals the solver says it matched that are not on chain yet: its word only, so a count, not a list. */
  matchedNotAgreed: number;
  /** Deals agreed on chain in each of the last `minutes` minutes, oldest first; the last is the minute now running. */
  jobsPerMinute: number[];
  /** The last deals agreed on chain, oldest first. */
  recentPrices: { dealId: Hex; price: bigint; agreedAtMs?: number }[];
}

export interface MarketView {
  /** The market now, at most `cacheMs` old; concurrent callers share one read. */
  snapshot(): Promise<MarketSnapshot>;
}

export interface MarketViewOptions {
  /** How long a snapshot is served before the next read (default 2 s). */
  cacheMs?: number;
  /**
   * How long a snapshot waits for the chain or the solver (default 5 s): past it, the snapshot shows what
   * was read before and says which did not answer, while the read goes on for the next snapshot.
   */
  readTimeoutMs?: number;
  now?: () => number;
}

export const MARKET_LIMITS = {
  /** Blocks per log query: public RPC endpoints refuse wider ranges. */
  blocksPerQuery: 10_000n,
  /** Log queries per read: a long chain is caught up with over several reads, the page meanwhile showing what is known. */
  queriesPerRead: 20,
  /** Deals kept in memory in detail (the totals count all). */
  dealsKept: 5_000,
  dealsShown: 50,
  pricesShown: 30,
  minutesShown: 30,
  /** Pages of the solver's open offers read (100 each). */
  offerPages: 5,
} as const;

const ACCEPTED: ReadonlySet<ChainDealState> = new Set(['results-accepted', 'mediation-accepted']);

type ProviderTotals = Pick<MarketProvider, 'deals' | 'inFlight' | 'jobsDone' | 'earned'>;

export function createMarketView(sources: MarketSources, options: MarketViewOptions = {}): MarketView {
  const { publicClient, domain, solver } = sources;
  const cacheMs = options.cacheMs ?? 2_000;
  const readTimeoutMs = options.readTimeoutMs ?? 5_000;
  const now = options.now ?? Date.now;
  const deals = new Map<Hex, MarketDeal>();
  const totals = new Map<string, ProviderTotals & { address: Address }>();
  /** The block that agreed each deal kept, and the times of blocks read. */
  const blockOf = new Map<Hex, bigint>();
  const blockTimes = new Map<bigint, number>();
  /** The module names of job offers the solver listed that hash to their deal's id, by deal id. */
  const signedModules = new Map<Hex, string>();
  /** Offers already checked, by id and signature: a signature that held once holds for good. */
  const verified = new Map<string, string | undefined>();
  let nextBlock = sources.fromBlock;
  let headBlock = 0n;
  let cached: MarketSnapshot | undefined;
  let reading: Promise<MarketSnapshot> | undefined;
  // One read of each source at a time, even past a snapshot's wait: the chain's is what moves `nextBlock`.
  let chainRead: Promise<void> | undefined;
  let solverRead: Promise<Awaited<ReturnType<typeof readSolver>>> | undefined;
  /** `work`, or a rejection saying that `who` did not answer in time (the work goes on). */
  const inTime = <T>(work: Promise<T>, who: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${who} did not answer within ${readTimeoutMs / 1000} s`)), readTimeoutMs)));
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  };

  const totalsOf = (address: Address) => {
    const key = address.toLowerCase();
    let entry = totals.get(key);
    if (!entry) totals.set(key, (entry = { address, deals: 0, inFlight: 0, jobsDone: 0, earned: 0n }));
    return entry;
  };

  function apply(event: DealEventLog): void {
    if (event.type === 'agreed') {
      if (deals.has(event.dealId)) return;
      deals.set(event.dealId, { dealId: event.dealId, provider: event.resourceProvider, jobCreator: event.jobCreator, price: event.price, collateral: event.collateral, state: 'agreed', final: false });
      blockOf.set(event.dealId, event.blockNumber);
      const provider = totalsOf(event.resourceProvider);
      provider.deals += 1;
      provider.inFlight += 1;
      return;
    }
    const deal = deals.get(event.dealId);
    if (!deal || deal.final) return; // agreed before the scan's first block, or forgotten long ago
    deal.state = event.state;
    if (event.resultCid) deal.resultCid = event.resultCid;
    if (!isFinal(event.state)) return;
    deal.final = true;
    const provider = totalsOf(deal.provider);
    provider.inFlight -= 1;
    if (ACCEPTED.has(event.state)) {
      provider.jobsDone += 1;
      provider.earned += deal.price;
    }
  }

  /** Keeps the newest deals in detail; the oldest finished ones go first (their totals stay counted). */
  function forgetOldDeals(): void {
    if (deals.size <= MARKET_LIMITS.dealsKept) return;
    for (const [id, deal] of deals) {
      if (deals.size <= MARKET_LIMITS.dealsKept) break;
      if (!deal.final) continue;
      deals.delete(id);
      blockOf.delete(id);
    }
  }

  /** Reads the deal contract's logs from where the last read stopped, up to the head (or the query cap). */
  async function readChain(): Promise<void> {
    headBlock = await publicClient.getBlockNumber();
    for (let queries = 0; nextBlock <= headBlock && queries < MARKET_LIMITS.queriesPerRead; queries++) {
      const toBlock = nextBlock + MARKET_LIMITS.blocksPerQuery - 1n < headBlock ? nextBlock + MARKET_LIMITS.blocksPerQuery - 1n : headBlock;
      for (const event of await getDealEvents(publicClient, { deals: domain.dealsAddress, fromBlock: nextBlock, toBlock })) apply(event);
      nextBlock = toBlock + 1n;
    }
    forgetOldDeals();
    // The times of the recent deals' blocks (each read once): their age, and the jobs per minute.
    const recent = [...deals.values()].slice(-500).filter((deal) => deal.agreedAtMs === undefined);
    const blocks = [...new Set(recent.map((deal) => blockOf.get(deal.dealId)!))].filter((block) => !blockTimes.has(block));
    for (let i = 0; i < blocks.length; i += 8) {
      await Promise.all(
        blocks.slice(i, i + 8).map(async (blockNumber) => {
          const block = await publicClient.getBlock({ blockNumber });
          blockTimes.set(blockNumber, Number(block.timestamp) * 1000);
        }),
      );
    }
    for (const deal of recent) deal.agreedAtMs = blockTimes.get(blockOf.get(deal.dealId)!);
    if (blockTimes.size > 2_000) blockTimes.clear();
  }

  /** Why an offer the solver listed is not shown, or undefined when it verifies. */
  async function offerProblem(listed: { id: string; offer: unknown }, nowSeconds: bigint): Promise<string | undefined> {
    let offer;
    try {
      offer = parseResourceOffer(listed.offer);
    } catch (error) {
      return (error as Error).message;
    }
    if (offer.terms.expiry <= nowSeconds) return 'resource offer has expired';
    const id = resourceOfferId(domain, offer.terms);
    const key = `${id}|${offer.signature}`;
    if (!verified.has(key)) {
      if (verified.size > 10_000) verified.clear();
      const holds = await verifyResourceOfferSignature(domain, offer, publicClient);
      verified.set(key, holds ? undefined : 'resource offer signature does not match resourceProvider');
    }
    return verified.get(key);
  }

  /** The open offers (those that verify) and the module names of deals on chain, from the solver. */
  async function readSolver(nowSeconds: bigint) {
    const offers: MarketOffer[] = [];
    const refusedOffers: { id: string; reason: string }[] = [];
    let after: number | undefined;
    for (let page = 0; page < MARKET_LIMITS.offerPages; page++) {
      const listing = await solver.listResourceOffers({ after, limit: 100 });
      for (const listed of listing.items) {
        const problem = await offerProblem(listed, nowSeconds);
        if (problem) {
          refusedOffers.push({ id: String(listed.id).slice(0, 80), reason: problem });
          continue;
        }
        const { terms, details } = parseResourceOffer(listed.offer);
        offers.push({
          id: resourceOfferId(domain, terms),
          provider: terms.resourceProvider,
          price: terms.price,
          collateral: terms.price * terms.collateralMultiple,
          capacity: terms.capacity,
          used: Number.isSafeInteger(listed.used) ? listed.used : 0,
          machine: details.machine,
          engines: details.engines,
          modules: details.modules,
          expiry: terms.expiry,
        });
      }
      if (listing.next === undefined) break;
      after = listing.next;
    }
    let matchedNotAgreed = 0;
    for (const item of (await solver.listDeals({ limit: 100 })).items) {
      const listed = item as { dealId?: unknown; state?: unknown; jobOffer?: unknown };
      if (listed.state === 'matched') {
        matchedNotAgreed += 1;
        continue;
      }
      if (typeof listed.dealId !== 'string' || signedModules.has(listed.dealId.toLowerCase() as Hex)) continue;
      try {
        const job = parsePublicJobOffer(listed.jobOffer);
        // A deal's id is its job offer's hash: once the chain has a deal of this id, the name is the one its creator signed.
        if (jobOfferId(domain, job.terms) === listed.dealId.toLowerCase()) {
          if (signedModules.size >= 10_000) signedModules.clear();
          signedModules.set(listed.dealId.toLowerCase() as Hex, job.moduleName);
        }
      } catch {
        // not the deal's job offer: its module stays unknown
      }
    }
    return { offers, refusedOffers, matchedNotAgreed };
  }

  async function read(): Promise<MarketSnapshot> {
    const takenAtMs = now();
    let chainError: string | undefined;
    let solverError: string | undefined;
    const fromChain = (chainRead ??= readChain().finally(() => (chainRead = undefined)));
    const fromSolverRead = (solverRead ??= readSolver(BigInt(Math.floor(takenAtMs / 1000))).finally(() => (solverRead = undefined)));
    await inTime(fromChain, 'the chain').catch((error: unknown) => (chainError = (error as Error).message.split('\n')[0]));
    const fromSolver = await inTime(fromSolverRead, 'the solver').catch((error: unknown) => {
      solverError = (error as Error).message.split('\n')[0];
      return { offers: cached?.offers ?? [], refusedOffers: cached?.refusedOffers ?? [], matchedNotAgreed: cached?.matchedNotAgreed ?? 0 };
    });

    const providers = new Map<string, MarketProvider>();
    for (const [key, entry] of totals) providers.set(key, { ...entry, openOffers: 0 });
    for (const offer of fromSolver.offers) {
      const key = offer.provider.toLowerCase();
      let provider = providers.get(key);
      if (!provider) providers.set(key, (provider = { address: offer.provider, openOffers: 0, deals: 0, inFlight: 0, jobsDone: 0, earned: 0n }));
      provider.openOffers += 1;
      provider.machine = offer.machine; // offers come oldest first: the newest says the machine
      // An offer of any module (an empty list) makes the provider's "any module", whatever its others name.
      provider.modules = provider.modules?.length === 0 || offer.modules.length === 0 ? [] : [...new Set([...(provider.modules ?? []), ...offer.modules])];
      provider.price = provider.price
        ? { low: offer.price < provider.price.low ? offer.price : provider.price.low, high: offer.price > provider.price.high ? offer.price : provider.price.high }
        : { low: offer.price, high: offer.price };
    }

    for (const deal of deals.values()) if (deal.module === undefined && signedModules.has(deal.dealId)) deal.module = signedModules.get(deal.dealId);
    const all = [...deals.values()];
    const minute = 60_000;
    const thisMinute = Math.floor(takenAtMs / minute);
    const jobsPerMinute = new Array<number>(MARKET_LIMITS.minutesShown).fill(0);
    for (const deal of all) {
      if (deal.agreedAtMs === undefined) continue;
      const back = thisMinute - Math.floor(deal.agreedAtMs / minute);
      if (back >= 0 && back < MARKET_LIMITS.minutesShown) jobsPerMinute[MARKET_LIMITS.minutesShown - 1 - back]! += 1;
    }
    const providerList = [...providers.values()].sort((a, b) => b.jobsDone - a.jobsDone || b.openOffers - a.openOffers || a.address.localeCompare(b.address));
    const sum = (pick: (p: MarketProvider) => number) => providerList.reduce((total, p) => total + pick(p), 0);
    const snapshot: MarketSnapshot = {
      takenAtMs,
      chain: { chainId: domain.chainId, dealsAddress: domain.dealsAddress, headBlock, readToBlock: nextBlock - 1n, ...(chainError ? { error: chainError } : {}) },
      solver: { url: solver.url, ...(solverError ? { error: solverError } : {}) },
      totals: {
        providers: providerList.length,
        openOffers: fromSolver.offers.length,
        dealsAgreed: sum((p) => p.deals),
        inFlight: sum((p) => p.inFlight),
        finished: sum((p) => p.deals - p.inFlight),
        jobsDone: sum((p) => p.jobsDone),
        paidOut: providerList.reduce((total, p) => total + p.earned, 0n),
      },
      providers: providerList,
      offers: fromSolver.offers,
      refusedOffers: fromSolver.refusedOffers,
      deals: all.slice(-MARKET_LIMITS.dealsShown).reverse().map((deal) => ({ ...deal })),
      matchedNotAgreed: fromSolver.matchedNotAgreed,
      jobsPerMinute,
      recentPrices: all.slice(-MARKET_LIMITS.pricesShown).map((deal) => ({ dealId: deal.dealId, price: deal.price, ...(deal.agreedAtMs !== undefined ? { agreedAtMs: deal.agreedAtMs } : {}) })),
    };
    cached = snapshot;
    return snapshot;
  }

  return {
    snapshot() {
      if (cached && now() - cached.takenAtMs < cacheMs) return Promise.resolve(cached);
      reading ??= read().finally(() => (reading = undefined));
      return reading;
    },
  };
}
