/**
 * The resource provider: posts a signed resource offer to the solver, and for each deal it is matched
 * into, checks the job offer itself, agrees the deal on chain, runs the job, publishes the result
 * folder as a UnixFS DAG served over HTTP, and submits the result CID on chain.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
import type { Address, Hex } from 'viem';
import { agreeDeal, submitResults, type ChainClients } from '../chain/index.js';
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
import { offerDomain, offerTypes, type SignedResourceOfferTerms } from '../protocol/eip712.js';
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
  mediators: Address[];
  offerTtlSeconds?: number;
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
  /** Resolves when every deal taken so far has finished (submitted or failed). */
  idle(): Promise<void>;
}

export function createResourceProvider(config: ResourceProviderConfig, components: ResourceProviderComponents): ResourceProvider {
  const logger = components.logger ?? silentLogger;
  const address = components.chain.walletClient.account.address;
  const running = new Map<Hex, Promise<void>>();
  let http: RunningHttpServer | undefined;
  let subscription: EventSubscription | undefined;

  async function signOffer(details: ResourceOfferDetails): Promise<ResourceOffer> {
    const terms: SignedResourceOfferTerms = {
      resourceProvider: address,
      price: config.price,
      collateralMultiple: config.collateralMultiple,
      capacity: BigInt(config.capacity),
      mediators: config.mediators,
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
    if (!(await verifyJobOfferSignature(components.domain, job))) throw new Error('job offer signature is not the job creator\'s');
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
    await agreeDeal(components.chain, {
      deals: components.domain.dealsAddress,
      jobOffer: deal.jobOffer.terms,
      jobCreatorSignature: deal.jobOffer.signature,
      resourceOffer: deal.resourceOffer.terms,
      resourceProviderSignature: deal.resourceOffer.signature,
      mediator: deal.mediator,
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
    await submitResults(components.chain, { deals: components.domain.dealsAddress, dealId: deal.dealId, resultCid: cid.toString() });
    await components.solver.syncDeal(deal.dealId);
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
      http = await listen(app, { host: config.host, port: config.port });
      subscription = components.solver.subscribe({ resourceProvider: address }, (event) => {
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
      await http?.close();
      http = undefined;
    },
  });

  return {
    ...lifecycle,
    address,
    async idle() {
      await Promise.allSettled(running.values());
    },
  };
}
