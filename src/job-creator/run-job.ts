/**
 * The job creator's SDK: resolve and render a module, sign a job offer, send it to the solver, follow
 * the deal (checking each step on chain, not on the solver's word), download the result by CID with
 * every block verified, accept it on chain, and write the folder. The CLI and the web app render the
 * same progress events.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CID } from 'multiformats/cid';
import type { Address, Hex } from 'viem';
import { acceptResults, type ChainClients } from '../chain/index.js';
import { JobError } from '../lib/errors.js';
import { renderModule } from '../module/render.js';
import type { ModuleResolver } from '../module/resolve.js';
import { engineOf, machineOf } from '../module/spec.js';
import type { Deal, ReadDeal } from '../protocol/deals.js';
import { offerDomain, offerTypes, type SignedJobOfferTerms } from '../protocol/eip712.js';
import { inputsHashOf, moduleIdOf } from '../protocol/ids.js';
import { jobOfferId, randomNonce, type JobOffer, type OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import { exportDirectory, fetchDag, type Blockstore } from '../storage/index.js';

export type JobProgressEvent =
  | { type: 'job:submitting'; module: string }
  | { type: 'job:submitted'; jobOfferId: Hex }
  | { type: 'job:unmatched'; reason: string }
  | { type: 'deal:agreed'; dealId: Hex; resourceProvider: Address; price: bigint }
  | { type: 'results:submitted'; dealId: Hex; cid: string }
  | { type: 'results:accepted'; dealId: Hex }
  | { type: 'results:downloaded'; cid: string; dir: string };

export interface RunJobOptions {
  module: string;
  inputs: Record<string, string>;
  /** The most LP (wei) this job may cost. */
  maxPrice: bigint;
  mediators: Address[];
  /** Seconds the offer stays open for a match. */
  offerTtlSeconds?: number;
  /** Results land in `resultsDir/<cid>`. */
  resultsDir: string;
  signal?: AbortSignal;
  onProgress?: (event: JobProgressEvent) => void;
}

export interface JobCreatorComponents {
  chain: ChainClients;
  domain: OfferDomain;
  solver: SolverClient;
  modules: ModuleResolver;
  readDeal: ReadDeal;
  /** Where downloaded blocks are kept (and verified) before the folder is written. */
  blockstore: Blockstore;
}

export interface JobResult {
  dealId: Hex;
  cid: string;
  dir: string;
  stdout: string;
  exitCode: number;
  resourceProvider: Address;
  price: bigint;
}

export async function runJob(options: RunJobOptions, components: JobCreatorComponents): Promise<JobResult> {
  const emit = options.onProgress ?? (() => undefined);
  const account = components.chain.walletClient.account.address;
  emit({ type: 'job:submitting', module: options.module });

  // Render here first, so that a bad module or a missing input fails before anything is signed.
  const module = await components.modules.resolve(options.module);
  const spec = renderModule(options.module, module.template, options.inputs);

  const terms: SignedJobOfferTerms = {
    jobCreator: account,
    moduleId: moduleIdOf(module.ref),
    inputsHash: inputsHashOf(options.inputs),
    maxPrice: options.maxPrice,
    mediators: options.mediators,
    nonce: randomNonce(),
    expiry: BigInt(Math.floor(Date.now() / 1000) + (options.offerTtlSeconds ?? 600)),
  };
  const signature = await components.chain.walletClient.signTypedData({
    domain: offerDomain(components.domain.chainId, components.domain.dealsAddress),
    types: offerTypes,
    primaryType: 'JobOffer',
    message: terms,
  });
  const offer: JobOffer = {
    terms,
    moduleName: options.module,
    module: module.ref,
    inputs: options.inputs,
    machine: machineOf(spec),
    engine: engineOf(spec),
    signature,
  };
  const id = jobOfferId(components.domain, terms);

  const deal = await followDeal(id, offer, options, components, emit);
  const onChain = await components.readDeal(deal.dealId);
  const cid = CID.parse(onChain.resultCid);

  // "Awaiting verification": every block is checked against its CID before the result is accepted.
  await fetchDag(cid, { gatewayUrl: deal.resourceOffer.details.resultsUrl, blockstore: components.blockstore, signal: options.signal });
  await acceptResults(components.chain, { deals: components.domain.dealsAddress, dealId: deal.dealId });
  emit({ type: 'results:accepted', dealId: deal.dealId });

  const dir = path.join(options.resultsDir, cid.toString());
  await rm(dir, { recursive: true, force: true });
  await mkdir(options.resultsDir, { recursive: true });
  await exportDirectory(cid, components.blockstore, dir);
  emit({ type: 'results:downloaded', cid: cid.toString(), dir });
  // Let the solver catch up with the accepted state; it is only for others' views, so failures are fine.
  await components.solver.syncDeal(deal.dealId).catch(() => undefined);

  return {
    dealId: deal.dealId,
    cid: cid.toString(),
    dir,
    stdout: await readFile(path.join(dir, 'stdout'), 'utf8'),
    exitCode: Number(await readFile(path.join(dir, 'exitCode'), 'utf8')),
    resourceProvider: onChain.resourceProvider,
    price: onChain.price,
  };
}

/**
 * Posts the offer and waits until the chain shows results for it. Events from the solver only say
 * when to look; what counts is read from the chain.
 */
async function followDeal(
  id: Hex,
  offer: JobOffer,
  options: RunJobOptions,
  components: JobCreatorComponents,
  emit: (event: JobProgressEvent) => void,
): Promise<Deal> {
  const account = offer.terms.jobCreator.toLowerCase();
  let reported: 'none' | 'agreed' | 'results' = 'none';
  let lastReason = 'no resource provider has answered yet';

  return await new Promise<Deal>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, deal?: Deal) => {
      if (settled) return;
      settled = true;
      clearTimeout(expiryTimer);
      options.signal?.removeEventListener('abort', onAbort);
      subscription.close();
      if (error) reject(error);
      else resolve(deal!);
    };
    const onAbort = () => finish(new JobError('the job was cancelled', { code: 'cancelled' }));
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const expiresInMs = Number(offer.terms.expiry) * 1000 - Date.now();
    const expiryTimer = setTimeout(() => {
      if (reported === 'none') {
        finish(new JobError(`no resource provider took the job before its offer expired: ${lastReason}`, { code: 'job-unmatched' }));
      }
    }, Math.max(0, expiresInMs) + 1000);

    const check = async (deal: Deal) => {
      const onChain = await components.readDeal(deal.dealId);
      if (onChain.jobCreator.toLowerCase() !== account) return;
      if (reported === 'none' && onChain.state !== 'none') {
        reported = 'agreed';
        emit({ type: 'deal:agreed', dealId: deal.dealId, resourceProvider: onChain.resourceProvider, price: onChain.price });
      }
      if (reported === 'agreed' && (onChain.state === 'results-submitted' || onChain.state === 'results-accepted')) {
        reported = 'results';
        emit({ type: 'results:submitted', dealId: deal.dealId, cid: onChain.resultCid });
        finish(undefined, deal);
      }
    };

    const subscription = components.solver.subscribe({ jobOffer: id }, (event) => {
      if (event.type === 'job:unmatched') {
        lastReason = event.reason;
        emit({ type: 'job:unmatched', reason: event.reason });
        return;
      }
      if (event.deal.dealId.toLowerCase() !== id.toLowerCase()) return;
      if (event.type === 'deal:matched') return;
      check(event.deal).catch((error) => finish(error));
    }, () => finish(new JobError('lost the connection to the solver while waiting for the deal; run again to retry', { code: 'solver-disconnected', retryable: true })));

    subscription.ready
      .then(async () => {
        const posted = await components.solver.postJobOffer(offer);
        emit({ type: 'job:submitted', jobOfferId: id });
        if (posted.state === 'pending') {
          lastReason = posted.reason;
          emit({ type: 'job:unmatched', reason: posted.reason });
        }
      })
      .catch((error) => finish(error));
  });
}
