/**
 * The resource provider: posts a signed resource offer to the solver, and for each deal it is matched
 * into, checks the job offer itself, agrees the deal on chain, runs the job, publishes the result
 * folder as a UnixFS DAG served over HTTP, and submits the result CID on chain. Then it gets paid: the
 * job creator posts its signed acceptance to `POST /api/v1/deals/:id/acceptance` on the results server, or
 * the judge window passes; either way the provider settles its deals on chain, many in one transaction.
 * It also sends the mediation timeout of its challenged deals when it is due, to free its collateral.
 *
 * Its deals live in SQLite (`dataDir/provider.db`, see deal-store.ts). After a crash it reads each open
 * deal's state from the chain and carries on: it agrees, runs (again) or resubmits, settles with the
 * acceptances it had received, and triggers the timeouts that are due. It runs at most `capacity` jobs at
 * once and keeps one offer posted with the capacity it has free, renewing it as deals use it up.
 */
import path from 'node:path';
import { Hono } from 'hono';
import type { Address, Hex } from 'viem';
import { agreeDeal, getDeal, settleResults, submitResults, timeoutMediation, timeoutSubmitResults, type ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import { LilypadError } from '../lib/errors.js';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { prepareJob, runPreparedJob } from '../module/prepare-job.js';
import type { ModuleResolver } from '../module/resolve.js';
import { machineOf } from '../module/spec.js';
import type { Deal } from '../protocol/deals.js';
import { acceptanceTypes, offerDomain, offerTypes, type SignedResourceOfferTerms } from '../protocol/eip712.js';
import { termsMisfitOf, termsMisfitText } from '../protocol/agreement.js';
import { defaultDealTimeouts } from '../protocol/mediation.js';
import { detailsHashOf, moduleIdOf } from '../protocol/ids.js';
import type { MachineSpec } from '../protocol/machine.js';
import { jobOfferId, randomNonce, resourceOfferId, verifyJobOfferSignature, verifyMatchAcceptance, type OfferDomain, type ResourceOffer, type ResourceOfferDetails } from '../protocol/offers.js';
import type { EventSubscription, SolverClient } from '../solver/client.js';
import { addDirectory, addGatewayRoutes, type Blockstore } from '../storage/index.js';
import { openDealStore, type DealStore } from './deal-store.js';
import { createJobSlots } from './job-slots.js';

/** Seconds kept free before a submit deadline, for the result to be added and the transaction to land. */
const SUBMIT_MARGIN_SECONDS = 10n;


export interface ResourceProviderConfig {
  /** LP (wei) per job. */
  price: bigint;
  collateralMultiple: bigint;
  /** Jobs run at once; the posted offer never promises more than is free. */
  capacity: number;
  machine: MachineSpec;
  /** Module names or ids this provider runs; empty means all. */
  modules: string[];
  /** Module names or ids it refuses even when allowed, such as those `lilypad module test` flagged as not deterministic. */
  refuseModules?: string[];
  mediators: Address[];
  offerTtlSeconds?: number;
  /** The shortest submit timeout (s) it accepts; default 60. */
  minSubmitTimeout?: bigint;
  /** The longest judge window (s) it lets its collateral wait; default 3600. */
  maxJudgeWindow?: bigint;
  /** The longest mediation (s) it lets its collateral be frozen for after a challenge; default 3600. */
  maxMediationTimeout?: bigint;
  /** How long a matched deal waits for its job creator's acceptance before it is given up (ms); default 120 s. */
  matchAcceptanceWaitMs?: number;
  /** The longest `Timeout` (s) a module may ask for here; longer ones are refused before agreeing; default 3600. */
  maxJobTimeoutSeconds?: number;
  /** Most deals settled in one transaction; default 20. */
  settleBatchSize?: number;
  /** How long acceptances are gathered before one settlement transaction (ms); default 0. */
  settleDelayMs?: number;
  /** Where job folders and `provider.db` are kept. */
  dataDir: string;
  host?: string;
  port?: number;
}

export interface ResourceProviderComponents {
  chain: ChainClients;
  domain: OfferDomain;
  solver: SolverClient;
  executors: Executor[];
  modules: ModuleResolver;
  blockstore: Blockstore;
  logger?: Logger;
}

export interface ResourceProvider extends Service {
  readonly address: Address;
  /** Resolves when every deal taken so far has finished (submitted or failed) and queued settlements are sent. */
  idle(): Promise<void>;
  /** Sends the queued settlements now. */
  settleNow(): Promise<void>;
  /** Deals with results on chain that are not settled yet. */
  awaitingPayment(): Hex[];
}

export function createResourceProvider(config: ResourceProviderConfig, components: ResourceProviderComponents): ResourceProvider {
  const logger = components.logger ?? silentLogger;
  const address = components.chain.walletClient.account.address;
  const deals = components.domain.dealsAddress;
  /** Deals being moved along now (agreeing, running, submitting), by id. */
  const active = new Map<Hex, Promise<void>>();
  const jobSlots = createJobSlots(Math.max(1, config.capacity));
  /** Deals with results on chain whose settlement is queued, with the job creator's acceptance where it came. */
  const toSettle = new Map<Hex, Hex | undefined>();
  const timers = new Set<NodeJS.Timeout>();
  let store: DealStore | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  let settling: Promise<void> = Promise.resolve();
  let stopped = false;
  let http: RunningHttpServer | undefined;
  let subscription: EventSubscription | undefined;
  let offerDetails: ResourceOfferDetails | undefined;
  /** The offer the solver matches from now; renewed when its capacity is used up or it nears expiry. */
  let current: { id: Hex; capacity: number; uses: number; expiry: bigint } | undefined;
  let posting: Promise<void> = Promise.resolve();
  let offerTimer: NodeJS.Timeout | undefined;
  /** Jobs running now, stopped when the provider stops. */
  const stopping = new Set<AbortController>();

  const db = (): DealStore => {
    if (!store) throw new LilypadError('the resource provider is not started', { code: 'not-started' });
    return store;
  };

  async function signOffer(details: ResourceOfferDetails, capacity: number): Promise<ResourceOffer> {
    const terms: SignedResourceOfferTerms = {
      resourceProvider: address,
      price: config.price,
      collateralMultiple: config.collateralMultiple,
      capacity: BigInt(capacity),
      mediators: config.mediators,
      minSubmitTimeout: config.minSubmitTimeout ?? defaultDealTimeouts.minSubmitTimeout,
      maxJudgeWindow: config.maxJudgeWindow ?? defaultDealTimeouts.maxJudgeWindow,
      maxMediationTimeout: config.maxMediationTimeout ?? defaultDealTimeouts.maxMediationTimeout,
      detailsHash: detailsHashOf(details),
      nonce: randomNonce(),
      expiry: BigInt(Math.floor(Date.now() / 1000) + (config.offerTtlSeconds ?? 3600)),
    };
    const signature = await components.chain.walletClient.signTypedData({
      domain: offerDomain(components.domain.chainId, components.domain.dealsAddress),
      types: offerTypes,
      primaryType: 'ResourceOffer',
      message: terms,
    });
    return { terms, details, signature };
  }

  /** Deals taken and not yet submitted: what occupies (or will occupy) a job slot. */
  function inFlight(): number {
    const counts = db().counts();
    return counts.taken + counts.agreed + counts.ran;
  }

  /**
   * Posts a fresh offer when the current one is used up or close to expiry, with the capacity that is free
   * now; with none free, the next finished deal calls this again.
   */
  function keepOfferPosted(force = false): Promise<void> {
    posting = posting.then(async () => {
      if (stopped || !offerDetails) return;
      const nearExpiry = current !== undefined && Number(current.expiry) * 1000 - Date.now() < 60_000;
      if (!force && current && current.uses < current.capacity && !nearExpiry) return;
      const free = config.capacity - inFlight();
      if (free <= 0 && !nearExpiry && !force) return;
      const offer = await signOffer(offerDetails, Math.max(1, free));
      const id = resourceOfferId(components.domain, offer.terms);
      db().saveOffer(id, offer);
      current = { id, capacity: Number(offer.terms.capacity), uses: 0, expiry: offer.terms.expiry };
      await components.solver.postResourceOffer(offer);
      logger.info({ offerId: id, capacity: current.capacity }, 'resource offer posted');
      clearTimeout(offerTimer);
      offerTimer = setTimeout(() => void keepOfferPosted().catch((error) => logger.warn({ err: error }, 'offer renewal failed')),
        Math.max(1000, Number(offer.terms.expiry) * 1000 - Date.now() - 60_000));
      offerTimer.unref();
    });
    return posting;
  }

  /** Deals checked and ready to run, so that agreeing and running check once (the module is hashed each time). */
  const prepared = new Map<Hex, ReturnType<typeof checkDeal>>();
  function prepare(deal: Deal): ReturnType<typeof checkDeal> {
    let ready = prepared.get(deal.dealId);
    if (!ready) {
      ready = checkDeal(deal);
      ready.catch(() => prepared.delete(deal.dealId));
      prepared.set(deal.dealId, ready);
    }
    return ready;
  }

  /** Module ids of the names in the allow and refuse lists, resolved once each: a name in an offer is only the job creator's word. */
  const listedModuleIds = new Map<string, Promise<string | undefined>>();
  /** Whether `moduleId` is one that `list` names, by id or by a name that resolves to it. */
  async function listsModule(list: readonly string[], moduleId: Hex): Promise<boolean> {
    for (const entry of list) {
      if (/^0x[0-9a-fA-F]{64}$/.test(entry)) {
        if (entry.toLowerCase() === moduleId.toLowerCase()) return true;
        continue;
      }
      let id = listedModuleIds.get(entry);
      if (!id) {
        id = components.modules.resolve(entry).then((module) => moduleIdOf(module.ref), () => undefined);
        listedModuleIds.set(entry, id);
      }
      if ((await id) === moduleId.toLowerCase()) return true;
    }
    return false;
  }

  /**
   * Everything a provider checks before it puts its collateral behind a deal, and what it needs to run it:
   * the offers are the job creator's and this provider's own, their terms make a deal, the module is allowed
   * by its signed id, and the job renders, fits this machine and its deadline, and is ready to run.
   */
  async function checkDeal(deal: Deal) {
    const job = deal.jobOffer;
    if (!(await verifyJobOfferSignature(components.domain, job, components.chain.publicClient))) throw new Error('job offer signature is not the job creator\'s');
    const misfit = termsMisfitOf(job.terms, deal.resourceOffer.terms);
    if (misfit) throw new Error(`this provider's offer ${termsMisfitText[misfit]}`);
    if (config.modules.length > 0 && !(await listsModule(config.modules, job.terms.moduleId))) {
      throw new Error(`module ${job.moduleName} (id ${job.terms.moduleId}) is not in this provider's allowlist`);
    }
    // A module whose re-run can differ would lose this provider its collateral to any challenge; refused by
    // its name and by its id, so that another name for it does not get it run.
    const refused = config.refuseModules ?? [];
    if (refused.includes(job.moduleName) || (await listsModule(refused, job.terms.moduleId))) {
      throw new Error(`module ${job.moduleName} is refused here (refuseModules: not deterministic)`);
    }
    const prepared = await prepareJob(job, components);
    const machine = machineOf(prepared.spec);
    if (machine.cpu > config.machine.cpu || machine.gpu > config.machine.gpu || machine.ram > config.machine.ram) {
      throw new Error('the module asks for more than this provider has');
    }
    // Without a Timeout of its own a job gets the network's default (the same in every re-run, so a mediator
    // stops it where the provider did); either way runJob stops it in time to submit before the deal's
    // deadline. Memory is held to the module's declared RAM.
    const asked = prepared.spec.job.Spec.Timeout;
    const maxTimeout = config.maxJobTimeoutSeconds ?? 3600;
    if (asked !== undefined && asked > maxTimeout) throw new Error(`the module's Timeout of ${asked} s is longer than this provider's maximum of ${maxTimeout} s`);
    return prepared;
  }

  /**
   * Runs the job into `dataDir/jobs/<dealId>` and adds the folder to the blockstore; returns its CID. The job
   * is stopped in time to submit before `deadline`. A job that fails after agreement (the executor gives up on
   * it) still gets a result folder that says why (`exitCode` 1 and `error`), which is submitted like any
   * other: the deal ends at once, the provider is paid for its work, and the mediator's re-run can check it.
   */
  async function runJob(deal: Deal, deadline: bigint): Promise<string> {
    const prepared = await prepare(deal);
    const resultDir = path.join(config.dataDir, 'jobs', deal.dealId);
    const untilDeadlineMs = (Number(deadline) - Number(SUBMIT_MARGIN_SECONDS)) * 1000 - Date.now();
    const abort = new AbortController();
    stopping.add(abort);
    try {
      const result = await runPreparedJob(prepared, {
        jobId: deal.dealId,
        resultDir,
        signal: abort.signal,
        wallClockMs: Math.max(1000, Math.min(prepared.limits.wallClockMs ?? Infinity, untilDeadlineMs)),
      });
      logger.info({ dealId: deal.dealId, exitCode: result.exitCode, failure: result.failure?.message }, 'job ran');
    } finally {
      stopping.delete(abort);
    }
    const cid = (await addDirectory(resultDir, components.blockstore)).toString();
    logger.info({ dealId: deal.dealId, cid }, 'result added');
    return cid;
  }

  const chainNow = () => BigInt(Math.floor(Date.now() / 1000));

  /**
   * Moves one deal on from wherever it is, as read from the chain: agree, run, submit, then wait for
   * payment. Safe to call again at any point (after a crash too): each step first looks at the chain.
   */
  async function advance(dealId: Hex): Promise<void> {
    const log = logger.child({ dealId });
    /** The deal's state as this provider's own last transaction left it, so that it need not be read back. */
    let known: Pick<NonNullable<Awaited<ReturnType<typeof getDeal>>>, 'state' | 'deadline' | 'resultCid' | 'resourceProvider'> | null | undefined;
    // A deal only taken is not read first: if it is on chain already, the agreement fails and the chain is read then.
    let first = true;
    for (;;) {
      if (stopped) return;
      const stored = db().get(dealId);
      if (!stored || stored.stage === 'done' || stored.stage === 'failed') return;
      const { deal } = stored;
      if (first && stored.stage === 'taken') known = null;
      first = false;
      const onChain = known !== undefined ? known : await getDeal(components.chain.publicClient, { deals, dealId });
      known = undefined;

      if (!onChain) {
        if (stored.stage !== 'taken') {
          // Recorded as agreed but the chain has no such deal: the agreement never landed.
          db().setStage(dealId, 'taken');
        }
        const expiry = deal.jobOffer.terms.expiry < deal.resourceOffer.terms.expiry ? deal.jobOffer.terms.expiry : deal.resourceOffer.terms.expiry;
        if (expiry <= chainNow()) {
          db().setStage(dealId, 'failed', { error: stored.matchAcceptance ? 'an offer expired before the deal was agreed' : 'the job creator did not accept the match before its offer expired' });
          return;
        }
        // A match its job creator does not accept holds a job slot: it is given up after a while, so that
        // nobody can keep a provider's capacity by posting jobs and never accepting them.
        const acceptanceWaitMs = config.matchAcceptanceWaitMs ?? 120_000;
        const acceptBy = stored.updatedAt + acceptanceWaitMs;
        if (!stored.matchAcceptance && Date.now() >= acceptBy) {
          const error = `the job creator did not accept the match within ${acceptanceWaitMs / 1000} s`;
          db().setStage(dealId, 'failed', { error });
          log.warn(`deal given up: ${error}`);
          return;
        }
        try {
          // Everything is checked before anything is locked, also while the job creator's acceptance is awaited.
          await prepare(deal);
          if (!stored.matchAcceptance) {
            const giveUpAt = BigInt(Math.ceil(acceptBy / 1000));
            at(giveUpAt < expiry ? giveUpAt : expiry, async () => follow(dealId));
            return;
          }
          // Only the provider can agree its offer: its transaction is its consent.
          await agreeDeal(components.chain, {
            deals,
            jobOffer: deal.jobOffer.terms,
            jobCreatorSignature: deal.jobOffer.signature,
            resourceOffer: deal.resourceOffer.terms,
            matchAcceptance: stored.matchAcceptance,
          });
        } catch (error) {
          // Another look: the agreement may have landed even though waiting for it failed.
          if (await getDeal(components.chain.publicClient, { deals, dealId }).catch(() => null)) continue;
          db().setStage(dealId, 'failed', { error: (error as Error).message });
          throw error;
        }
        db().setStage(dealId, 'agreed');
        log.info('deal agreed');
        void components.solver.syncDeal(dealId).catch(() => undefined);
        known = { state: 'agreed', deadline: chainNow() + deal.jobOffer.terms.submitTimeout, resultCid: '', resourceProvider: address };
        continue;
      }

      // The deal id is the job offer's hash; a deal with it that another provider agreed is not this one's.
      if (onChain.resourceProvider.toLowerCase() !== address.toLowerCase()) {
        db().setStage(dealId, 'failed', { error: `the job offer was agreed with another provider (${onChain.resourceProvider})` });
        log.warn('deal on chain belongs to another provider; dropped');
        return;
      }
      switch (onChain.state) {
        case 'agreed': {
          if (onChain.deadline < chainNow()) {
            // Too late to submit: end the deal, as anyone may, so that nothing stays locked (the collateral
            // goes to the job creator, as the rules say).
            await timeoutSubmitResults(components.chain, { deals, dealId });
            log.warn('submit deadline passed before results; deal timed out');
            continue;
          }
          let resultCid = stored.stage === 'ran' ? stored.resultCid : undefined;
          if (!resultCid) {
            resultCid = await runJob(deal, onChain.deadline);
            db().setStage(dealId, 'ran', { resultCid });
          }
          await submitResults(components.chain, { deals, dealId, resultCid });
          db().setStage(dealId, 'submitted', { resultCid });
          // The job creator hears of the results through the solver, so this one is awaited.
          await components.solver.syncDeal(dealId).catch(() => undefined);
          void keepOfferPosted().catch((error) => log.warn({ err: error }, 'offer renewal failed'));
          known = { state: 'results-submitted', deadline: chainNow() + deal.jobOffer.terms.judgeWindow, resultCid, resourceProvider: address };
          continue;
        }
        case 'results-submitted': {
          if (stored.stage !== 'submitted') db().setStage(dealId, 'submitted', { resultCid: onChain.resultCid });
          if (stored.acceptance || onChain.deadline < chainNow()) queueSettlement(dealId, stored.acceptance);
          else {
            at(onChain.deadline, async () => {
              const now = await getDeal(components.chain.publicClient, { deals, dealId });
              if (now?.state === 'results-submitted') queueSettlement(dealId, db().get(dealId)?.acceptance);
              else await advance(dealId);
            });
          }
          return;
        }
        case 'results-checked': {
          if (stored.stage !== 'submitted') db().setStage(dealId, 'submitted', { resultCid: onChain.resultCid });
          at(onChain.deadline, async () => {
            const now = await getDeal(components.chain.publicClient, { deals, dealId });
            if (now?.state === 'results-checked') await timeoutMediation(components.chain, { deals, dealId });
            await advance(dealId);
          });
          return;
        }
        default: {
          db().setStage(dealId, 'done');
          await components.solver.syncDeal(dealId).catch(() => undefined);
          void keepOfferPosted().catch((error) => log.warn({ err: error }, 'offer renewal failed'));
          return;
        }
      }
    }
  }

  /** Runs `task` at chain deadline `deadline` (unix seconds), unless the provider stops first. */
  function at(deadline: bigint, task: () => Promise<void>): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (!stopped) task().catch((error) => logger.warn({ err: error }, 'deal follow-up failed'));
    }, Math.max(0, Number(deadline) * 1000 - Date.now()) + 1000);
    timer.unref();
    timers.add(timer);
  }

  function queueSettlement(dealId: Hex, acceptance: Hex | undefined): void {
    if (db().get(dealId)?.stage !== 'submitted') return;
    toSettle.set(dealId, acceptance ?? toSettle.get(dealId));
    const batchSize = config.settleBatchSize ?? 20;
    if (toSettle.size >= batchSize) void flushSettlements();
    else if (!settleTimer) {
      settleTimer = setTimeout(() => void flushSettlements(), config.settleDelayMs ?? 0);
    }
  }

  /** Settles every queued deal, up to settleBatchSize in one transaction; one at a time if a batch fails. */
  function flushSettlements(): Promise<void> {
    clearTimeout(settleTimer);
    settleTimer = undefined;
    settling = settling.then(async () => {
      while (toSettle.size > 0 && store) {
        const batch = [...toSettle.entries()].slice(0, config.settleBatchSize ?? 20).map(([dealId, acceptance]) => ({ dealId, acceptance }));
        for (const { dealId } of batch) toSettle.delete(dealId);
        try {
          const { settled } = await settleResults(components.chain, { deals, settlements: batch });
          // A deal the chain skipped (accepted or challenged by its job creator first) goes where the chain says.
          for (const { dealId } of batch) {
            if (settled.some((id) => id.toLowerCase() === dealId.toLowerCase())) db().setStage(dealId, 'done');
            else await advance(dealId).catch((e) => logger.warn({ err: e, dealId }, 'deal follow-up failed'));
          }
        } catch (error) {
          logger.warn({ err: error, deals: batch.length }, 'batch settlement failed; settling one by one');
          for (const settlement of batch) {
            await settleResults(components.chain, { deals, settlements: [settlement] }).catch((e) =>
              logger.warn({ err: e, dealId: settlement.dealId }, 'settlement failed'),
            );
            // Whatever happened, the chain says where the deal is now (a challenge may have come first).
            await advance(settlement.dealId).catch((e) => logger.warn({ err: e, dealId: settlement.dealId }, 'deal follow-up failed'));
          }
        }
        await Promise.all(batch.map(({ dealId }) => components.solver.syncDeal(dealId).catch(() => undefined)));
        logger.info({ deals: batch.length }, 'deals settled');
      }
    });
    return settling;
  }

  /** Moves a deal on in the background, one mover per deal; a job runs only when a slot is free. */
  function follow(dealId: Hex): void {
    if (stopped) return;
    const running = active.get(dealId);
    if (running) {
      // Moved on once the current step is done: an acceptance may have come while the deal was being checked.
      running.then(() => follow(dealId));
      return;
    }
    const work = jobSlots
      .run(() => advance(dealId))
      .catch((error) => {
        logger.error({ dealId, err: error, code: error instanceof LilypadError ? error.code : undefined }, 'deal failed');
      })
      .finally(() => {
        active.delete(dealId);
        prepared.delete(dealId);
        void keepOfferPosted().catch((error) => logger.warn({ err: error }, 'offer renewal failed'));
      });
    active.set(dealId, work);
  }

  /**
   * A deal the solver says this provider was matched into. Only a resource offer this provider signed counts
   * (the id is the hash of its terms, so its own stored copy is what it agrees); the job creator's acceptance
   * of the match, once it comes with the deal, is checked and kept, and the deal moves on.
   */
  async function onDeal(deal: Deal): Promise<void> {
    if (deal.resourceOffer.terms.resourceProvider.toLowerCase() !== address.toLowerCase()) return;
    const own = db().getOffer(deal.resourceOfferId);
    if (!own || resourceOfferId(components.domain, deal.resourceOffer.terms) !== own.id) {
      logger.warn({ dealId: deal.dealId, resourceOfferId: deal.resourceOfferId }, 'deal names a resource offer this provider did not sign; ignored');
      return;
    }
    // The deal id is the job offer's hash on chain: a deal told under another id would be agreed under one
    // and followed under the other, and its collateral lost to the submit timeout.
    if (jobOfferId(components.domain, deal.jobOffer.terms) !== deal.dealId.toLowerCase()) {
      logger.warn({ dealId: deal.dealId }, 'deal id is not its job offer’s hash; ignored');
      return;
    }
    const { matchAcceptance, ...matched } = deal;
    const isNew = db().add({ ...matched, resourceOffer: own.offer });
    if (isNew) {
      const offer = db().countOfferUse(deal.resourceOfferId);
      if (current && offer && offer.id === current.id.toLowerCase()) current.uses = offer.uses;
      void keepOfferPosted().catch((error) => logger.warn({ err: error }, 'offer renewal failed'));
    }
    const stored = db().get(deal.dealId);
    if (matchAcceptance && stored && !stored.matchAcceptance) {
      const valid = await verifyMatchAcceptance(components.domain, stored.deal, matchAcceptance, components.chain.publicClient);
      if (valid) db().setMatchAcceptance(deal.dealId, matchAcceptance);
      else logger.warn({ dealId: deal.dealId }, 'match acceptance is not the job creator’s; ignored');
    }
    follow(deal.dealId);
  }

  /** Listens for this provider's deals; after a lost connection, listens again and re-posts its offer. */
  async function listenForDeals(): Promise<void> {
    let closed = false;
    const reconnect = () => {
      if (closed || stopped) return;
      closed = true;
      const retry = setTimeout(() => {
        if (stopped) return;
        listenForDeals()
          .then(() => keepOfferPosted(true))
          .catch((error) => {
            logger.warn({ err: error }, 'solver unreachable; retrying');
            closed = false;
            reconnect();
          });
      }, 1000);
      retry.unref();
      timers.add(retry);
    };
    subscription = components.solver.subscribe({ resourceProvider: address, signer: components.chain.walletClient, domain: components.domain, events: ['deal:matched'] }, (event) => {
      if (event.type === 'deal:matched') onDeal(event.deal).catch((error) => logger.warn({ err: error }, 'deal not taken'));
    }, () => reconnect());
    await subscription.ready;
  }

  const lifecycle = onceLifecycle({
    async start() {
      stopped = false;
      store = openDealStore(path.join(config.dataDir, 'provider.db'));
      const app = new Hono();
      addGatewayRoutes(app, { blockstore: components.blockstore });
      // The job creator's gasless acceptance: a signature the provider puts on chain with its settlement.
      app.post('/api/v1/deals/:id/acceptance', async (c) => {
        const dealId = c.req.param('id').toLowerCase() as Hex;
        const stored = store?.get(dealId);
        if (!stored || stored.stage === 'done' || stored.stage === 'failed' || stored.stage === 'taken') {
          return c.json({ error: 'no deal of this provider is waiting for acceptance' }, 404);
        }
        const body = (await c.req.json().catch(() => ({}))) as { signature?: unknown };
        const signature = typeof body.signature === 'string' && /^0x[0-9a-fA-F]+$/.test(body.signature) ? (body.signature as Hex) : undefined;
        const valid =
          signature !== undefined &&
          // Through the chain client, so that a contract job creator's (ERC-1271) acceptance counts too.
          (await components.chain.publicClient.verifyTypedData({
            address: stored.deal.jobOffer.terms.jobCreator,
            domain: offerDomain(components.domain.chainId, deals),
            types: acceptanceTypes,
            primaryType: 'ResultsAcceptance',
            message: { dealId },
            signature,
          }).catch(() => false));
        if (!valid) return c.json({ error: 'signature is not the job creator’s acceptance of this deal' }, 401);
        // Kept before it is answered: an acceptance received is settled even after a crash.
        store?.setAcceptance(dealId, signature);
        queueSettlement(dealId, signature);
        return c.json({ dealId, queued: true }, 202);
      });
      // The results address is in every deal's signed offer, so after a restart it must be the same: with no
      // port configured, the one used last time is taken again when it is free.
      const lastPort = Number(store.getSetting('results-port') ?? 0);
      http = config.port || !lastPort
        ? await listen(app, { host: config.host, port: config.port })
        : await listen(app, { host: config.host, port: lastPort }).catch(() => listen(app, { host: config.host, port: 0 }));
      store.setSetting('results-port', String(new URL(http.url).port));
      await listenForDeals();
      offerDetails = {
        machine: config.machine,
        engines: [...new Set((await Promise.all(components.executors.map(async (e) => ((await e.isAvailable()) ? [e.engine] : [])))).flat())],
        modules: config.modules,
        // Signed into the offer, so the solver does not match a refused module to this provider at all.
        ...(config.refuseModules?.length ? { refusedModules: config.refuseModules } : {}),
        resultsUrl: http.url,
      };
      // Carry on with the deals that were open when the provider last stopped (or crashed).
      const open = store.open();
      if (open.length > 0) logger.info({ deals: open.length }, 'carrying on with open deals');
      for (const stored of open) follow(stored.deal.dealId);
      // A fresh offer every start: the results address may have changed, and the old one's use is unknown.
      await keepOfferPosted(true);
      logger.info({ address, resultsUrl: http.url }, 'resource provider offering');
    },
    async stop() {
      subscription?.close();
      stopped = true;
      for (const job of stopping) job.abort();
      await Promise.allSettled(active.values());
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      clearTimeout(offerTimer);
      await posting.catch(() => undefined);
      // Acceptances already received are worth a transaction; deals still in their judge window are not lost
      // either: they are in provider.db, and anyone can settle them once it has passed.
      await flushSettlements();
      await http?.close();
      http = undefined;
      store?.close();
      store = undefined;
    },
  });

  return {
    ...lifecycle,
    address,
    async idle() {
      while (active.size > 0) await Promise.allSettled(active.values());
      await settling;
    },
    settleNow: () => flushSettlements(),
    awaitingPayment: () => (store ? store.open().filter((d) => d.stage === 'submitted').map((d) => d.deal.dealId) : []),
  };
}
