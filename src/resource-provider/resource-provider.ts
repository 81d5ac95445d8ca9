/**
 * The resource provider: posts a signed resource offer to the solver, and for each deal it is matched
 * into, checks the job offer itself, agrees the deal on chain, runs the job, publishes the result
 * folder as a UnixFS DAG served over HTTP, and submits the result CID on chain. Then it gets paid: the
 * job creator posts its signed acceptance to `POST /api/v1/deals/:id/acceptance` on the results server, or
 * the judge window passes; either way the provider settles its deals on chain, many in one transaction.
 * It also sends the mediation timeout of its challenged deals when it is due, to free its collateral.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import type { Address, Hex } from 'viem';
import { agreeDeal, getDeal, settleResults, submitResults, timeoutMediation, type ChainClients } from '../chain/index.js';
import type { Executor } from '../executor/types.js';
import { LilypadError } from '../lib/errors.js';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { executorJobOf } from '../module/executor-job.js';
import { renderModule } from '../module/render.js';
import type { ModuleResolver } from '../module/resolve.js';
import { engineOf, machineOf } from '../module/spec.js';
import type { Deal } from '../protocol/deals.js';
import { acceptanceTypes, offerDomain, offerTypes, type SignedResourceOfferTerms } from '../protocol/eip712.js';
import { defaultDealTimeouts } from '../protocol/mediation.js';
import { detailsHashOf } from '../protocol/ids.js';
import type { MachineSpec } from '../protocol/machine.js';
import { randomNonce, verifyJobOfferSignature, type OfferDomain, type ResourceOffer, type ResourceOfferDetails } from '../protocol/offers.js';
import type { EventSubscription, SolverClient } from '../solver/client.js';
import { addDirectory, addGatewayRoutes, type Blockstore } from '../storage/index.js';

export interface ResourceProviderConfig {
  /** LP (wei) per job. */
  price: bigint;
  collateralMultiple: bigint;
  /** Deals one offer may take, and jobs run at once. */
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
  /** Most deals settled in one transaction; default 20. */
  settleBatchSize?: number;
  /** How long acceptances are gathered before one settlement transaction (ms); default 0. */
  settleDelayMs?: number;
  /** Where job folders are written. */
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
  const running = new Map<Hex, Promise<void>>();
  const deals = components.domain.dealsAddress;
  /** Deals with results on chain and not yet settled, with the job creator's acceptance once it came. */
  const toSettle = new Map<Hex, Hex | undefined>();
  const awaitingPayment = new Map<Hex, Deal>();
  const timers = new Set<NodeJS.Timeout>();
  let settleTimer: NodeJS.Timeout | undefined;
  let settling: Promise<void> = Promise.resolve();
  let stopped = false;
  let http: RunningHttpServer | undefined;
  let subscription: EventSubscription | undefined;

  async function signOffer(details: ResourceOfferDetails): Promise<ResourceOffer> {
    const terms: SignedResourceOfferTerms = {
      resourceProvider: address,
      price: config.price,
      collateralMultiple: config.collateralMultiple,
      capacity: BigInt(config.capacity),
      mediators: config.mediators,
      minSubmitTimeout: config.minSubmitTimeout ?? defaultDealTimeouts.minSubmitTimeout,
      maxJudgeWindow: config.maxJudgeWindow ?? defaultDealTimeouts.maxJudgeWindow,
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

  /** Everything a provider checks before it puts its collateral behind a deal. */
  async function prepare(deal: Deal) {
    const job = deal.jobOffer;
    if (!(await verifyJobOfferSignature(components.domain, job, components.chain.publicClient))) throw new Error('job offer signature is not the job creator\'s');
    // A module whose re-run can differ would lose this provider its collateral to any challenge.
    if (config.refuseModules?.some((m) => m === job.moduleName || m.toLowerCase() === job.terms.moduleId.toLowerCase())) {
      throw new Error(`module ${job.moduleName} is refused here (refuseModules: not deterministic)`);
    }
    const module = await components.modules.resolveRef(job.module, job.moduleName);
    const spec = renderModule(job.moduleName, module.template, job.inputs);
    const engine = engineOf(spec);
    const executor = components.executors.find((e) => e.engine === engine);
    if (!executor) throw new Error(`no ${engine} executor here`);
    const machine = machineOf(spec);
    if (machine.cpu > config.machine.cpu || machine.gpu > config.machine.gpu || machine.ram > config.machine.ram) {
      throw new Error('the module asks for more than this provider has');
    }
    return { executor, executorJob: await executorJobOf(module, spec), timeoutSeconds: spec.job.Spec.Timeout };
  }

  async function handleDeal(deal: Deal): Promise<void> {
    const log = logger.child({ dealId: deal.dealId });
    const { executor, executorJob, timeoutSeconds } = await prepare(deal);
    // Sent by the provider itself: its transaction is its consent, so the contract skips its signature.
    await agreeDeal(components.chain, {
      deals,
      jobOffer: deal.jobOffer.terms,
      jobCreatorSignature: deal.jobOffer.signature,
      resourceOffer: deal.resourceOffer.terms,
    });
    log.info('deal agreed');
    await components.solver.syncDeal(deal.dealId);

    const resultDir = path.join(config.dataDir, 'jobs', deal.dealId);
    await rm(resultDir, { recursive: true, force: true });
    await mkdir(resultDir, { recursive: true });
    const result = await executor.run({
      jobId: deal.dealId,
      job: executorJob,
      resultDir,
      limits: timeoutSeconds ? { wallClockMs: timeoutSeconds * 1000 } : undefined,
    });
    const cid = await addDirectory(resultDir, components.blockstore);
    log.info({ exitCode: result.exitCode, cid: cid.toString() }, 'job ran');
    await submitResults(components.chain, { deals, dealId: deal.dealId, resultCid: cid.toString() });
    awaitingPayment.set(deal.dealId, deal);
    await components.solver.syncDeal(deal.dealId);
    await watchPayment(deal.dealId);
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

  /** After results: settle once the judge window passes; if challenged, end the mediation when it times out. */
  async function watchPayment(dealId: Hex): Promise<void> {
    const onChain = await getDeal(components.chain.publicClient, { deals, dealId });
    if (!onChain) return;
    if (onChain.state === 'results-submitted') {
      at(onChain.deadline, async () => {
        const now = await getDeal(components.chain.publicClient, { deals, dealId });
        if (now?.state === 'results-submitted') queueSettlement(dealId, undefined);
        else await watchPayment(dealId);
      });
    } else if (onChain.state === 'results-checked') {
      at(onChain.deadline, async () => {
        const now = await getDeal(components.chain.publicClient, { deals, dealId });
        if (now?.state === 'results-checked') await timeoutMediation(components.chain, { deals, dealId });
        awaitingPayment.delete(dealId);
        await components.solver.syncDeal(dealId).catch(() => undefined);
      });
    } else {
      awaitingPayment.delete(dealId);
    }
  }

  function queueSettlement(dealId: Hex, acceptance: Hex | undefined): void {
    if (!awaitingPayment.has(dealId)) return;
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
      while (toSettle.size > 0) {
        const batch = [...toSettle.entries()].slice(0, config.settleBatchSize ?? 20).map(([dealId, acceptance]) => ({ dealId, acceptance }));
        for (const { dealId } of batch) toSettle.delete(dealId);
        try {
          await settleResults(components.chain, { deals, settlements: batch });
        } catch (error) {
          logger.warn({ err: error, deals: batch.length }, 'batch settlement failed; settling one by one');
          for (const settlement of batch) {
            await settleResults(components.chain, { deals, settlements: [settlement] }).catch((e) =>
              logger.warn({ err: e, dealId: settlement.dealId }, 'settlement failed'),
            );
          }
        }
        for (const { dealId } of batch) {
          awaitingPayment.delete(dealId);
          await components.solver.syncDeal(dealId).catch(() => undefined);
        }
        logger.info({ deals: batch.length }, 'deals settled');
      }
    });
    return settling;
  }

  function onDeal(deal: Deal): void {
    if (deal.resourceOffer.terms.resourceProvider.toLowerCase() !== address.toLowerCase()) return;
    if (running.has(deal.dealId)) return;
    const work = handleDeal(deal).catch((error) => {
      logger.error({ dealId: deal.dealId, err: error, code: error instanceof LilypadError ? error.code : undefined }, 'deal failed');
    });
    running.set(deal.dealId, work);
  }

  const lifecycle = onceLifecycle({
    async start() {
      const app = new Hono();
      addGatewayRoutes(app, { blockstore: components.blockstore });
      // The job creator's gasless acceptance: a signature the provider puts on chain with its settlement.
      app.post('/api/v1/deals/:id/acceptance', async (c) => {
        const dealId = c.req.param('id').toLowerCase() as Hex;
        const deal = awaitingPayment.get(dealId);
        if (!deal) return c.json({ error: 'no deal of this provider is waiting for acceptance' }, 404);
        const body = (await c.req.json().catch(() => ({}))) as { signature?: unknown };
        const signature = typeof body.signature === 'string' && /^0x[0-9a-fA-F]+$/.test(body.signature) ? (body.signature as Hex) : undefined;
        const valid =
          signature !== undefined &&
          // Through the chain client, so that a contract job creator's (ERC-1271) acceptance counts too.
          (await components.chain.publicClient.verifyTypedData({
            address: deal.jobOffer.terms.jobCreator,
            domain: offerDomain(components.domain.chainId, deals),
            types: acceptanceTypes,
            primaryType: 'ResultsAcceptance',
            message: { dealId },
            signature,
          }).catch(() => false));
        if (!valid) return c.json({ error: 'signature is not the job creator’s acceptance of this deal' }, 401);
        queueSettlement(dealId, signature);
        return c.json({ dealId, queued: true }, 202);
      });
      http = await listen(app, { host: config.host, port: config.port });
      subscription = components.solver.subscribe({ resourceProvider: address, signer: components.chain.walletClient, domain: components.domain }, (event) => {
        if (event.type === 'deal:matched') onDeal(event.deal);
      });
      await subscription.ready;
      const details: ResourceOfferDetails = {
        machine: config.machine,
        engines: [...new Set((await Promise.all(components.executors.map(async (e) => ((await e.isAvailable()) ? [e.engine] : [])))).flat())],
        modules: config.modules,
        resultsUrl: http.url,
      };
      await components.solver.postResourceOffer(await signOffer(details));
      logger.info({ address, resultsUrl: http.url }, 'resource provider offering');
    },
    async stop() {
      subscription?.close();
      await Promise.allSettled(running.values());
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      // Acceptances already received are worth a transaction; deals still in their judge window are not lost
      // either: anyone can settle them once it has passed.
      await flushSettlements();
      await http?.close();
      http = undefined;
    },
  });

  return {
    ...lifecycle,
    address,
    async idle() {
      await Promise.allSettled(running.values());
      await settling;
    },
    settleNow: () => flushSettlements(),
    awaitingPayment: () => [...awaitingPayment.keys()],
  };
}
