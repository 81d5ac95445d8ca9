/**
 * The job creator's SDK: resolve and render a module, sign a job offer, send it to the solver, follow
 * the deal (checking each step on chain, not on the solver's word), download the result by CID with
 * every block verified, judge it, and write the folder. Accepting costs no gas: the job creator signs an
 * acceptance and hands it to the provider, who puts it on chain with its settlement (or lets the judge
 * window pass). Challenging, and ending a deal whose provider never submitted, are transactions of the
 * job creator's own. The CLI and the web app render the same progress events.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CID } from 'multiformats/cid';
import { keccak256, type Address, type Hex } from 'viem';
import { challengeResults, signResultsAcceptance, timeoutSubmitResults, type ChainClients } from '../chain/index.js';
import { JobError, SolverError, StorageError } from '../lib/errors.js';
import { renderModule } from '../module/render.js';
import type { ModuleResolver } from '../module/resolve.js';
import { engineOf, machineOf } from '../module/spec.js';
import type { Deal, OnChainDealView, ReadDeal } from '../protocol/deals.js';
import { defaultDealTimeouts, mediatorSeedHashOf, sharedMediatorsOf } from '../protocol/mediation.js';
import { offerDomain, offerTypes, type SignedJobOfferTerms } from '../protocol/eip712.js';
import { inputsHashOf, moduleIdOf } from '../protocol/ids.js';
import { termsMisfitOf, termsMisfitText } from '../protocol/agreement.js';
import {
  jobOfferDetailsHashOf,
  jobOfferId,
  matchAcceptanceTypedData,
  randomNonce,
  resourceOfferId,
  type JobOffer,
  type OfferDomain,
} from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import { exportDirectory, fetchDag, type Blockstore } from '../storage/index.js';
import { followChallenge } from './follow-challenge.js';

export type JobProgressEvent =
  | { type: 'job:submitting'; module: string }
  | { type: 'job:submitted'; jobOfferId: Hex }
  | { type: 'job:unmatched'; reason: string }
  | { type: 'deal:agreed'; dealId: Hex; resourceProvider: Address; price: bigint }
  | { type: 'results:submitted'; dealId: Hex; cid: string }
  | { type: 'results:accepted'; dealId: Hex }
  | { type: 'results:challenged'; dealId: Hex; mediator: Address }
  | { type: 'mediation:ruled'; dealId: Hex; state: OnChainDealView['state'] }
  | { type: 'results:downloaded'; cid: string; dir: string };

export interface RunJobOptions {
  module: string;
  inputs: Record<string, string>;
  /** The most LP (wei) this job may cost. */
  maxPrice: bigint;
  /** The least collateral (LP wei) a provider must lock for this job; default 0 (the provider's own terms). */
  minCollateral?: bigint;
  mediators: Address[];
  /** Seconds the offer stays open for a match. */
  offerTtlSeconds?: number;
  /** Deal timeouts in seconds (defaults in `defaultDealTimeouts`). */
  submitTimeout?: bigint;
  judgeWindow?: bigint;
  mediationTimeout?: bigint;
  /** LP (wei) paid to the mediator if this job creator challenges; default 0.1 LP. */
  mediationFee?: bigint;
  /**
   * Decides on the downloaded result: true accepts it (gasless), false challenges it (a transaction of the
   * job creator's, plus the mediation fee). Default: accept. A result that cannot be downloaded is challenged.
   */
  judge?: (result: { cid: string; dir: string }) => boolean | Promise<boolean>;
  /**
   * The job creator the deal is for, when it is a contract that accepts this wallet's signatures
   * (ERC-1271), as the on-chain job creator does for its bridge; default: the wallet's own address.
   */
  jobCreator?: Address;
  /** Results land in `resultsDir/<cid>`. */
  resultsDir: string;
  signal?: AbortSignal;
  onProgress?: (event: JobProgressEvent) => void;
  /**
   * Called with the signed offer before it is sent: where a caller records the job, so that a crash of
   * this process after sending never loses it (`followJob` picks it up again).
   */
  onOffer?: (offer: JobOffer, jobOfferId: Hex) => void | Promise<void>;
  /** Called with the deal each time the solver tells of it (it carries the provider's results address). */
  onDeal?: (deal: Deal) => void;
  /** The deal as last seen, when following a job again: used if the solver no longer knows it. */
  knownDeal?: Deal;
}

export interface JobCreatorComponents {
  chain: ChainClients;
  domain: OfferDomain;
  solver: SolverClient;
  modules: ModuleResolver;
  readDeal: ReadDeal;
  /** Where downloaded blocks are kept (and verified) before the folder is written. */
  blockstore: Blockstore;
  /**
   * Sends the challenge of a deal's results; default: the deal contract's `challengeResults` from this
   * wallet. A job creator that is a contract (`jobCreator`) must send it itself, as the on-chain job
   * creator's bridge does through the contract (`challengeJobResults`).
   */
  challenge?: (args: ChallengeArgs) => Promise<{ mediator: Address }>;
}

/** What a challenge reveals: the job creator's mediator seed, the candidates, and the provider's seed. */
export interface ChallengeArgs {
  dealId: Hex;
  jobCreatorSeed: Hex;
  candidates: Address[];
  providerSeed: Hex;
}

export interface JobResult {
  dealId: Hex;
  cid: string;
  dir: string;
  stdout: string;
  exitCode: number;
  /** Why the job failed, when the provider's executor gave up on it (the result folder's `error`). */
  error?: string;
  resourceProvider: Address;
  price: bigint;
  /** The deal's final or current state: 'results-submitted' (accepted off chain), or a mediation outcome. */
  state: OnChainDealView['state'];
}

export async function runJob(options: RunJobOptions, components: JobCreatorComponents): Promise<JobResult> {
  options.onProgress?.({ type: 'job:submitting', module: options.module });
  const { offer, id, mediatorSeed } = await signJobOffer(options, components);
  await options.onOffer?.(offer, id);
  return await followJob(offer, options, components, mediatorSeed);
}

/**
 * Posts a job without following it (`lilypad run --detach`): signs the offer, hands it to `onOffer`, sends
 * it to the solver and accepts the match when there is one at once; `followJob` later takes it to the end.
 */
export async function postJob(
  options: RunJobOptions,
  components: JobCreatorComponents,
): Promise<{ jobOfferId: Hex; offer: JobOffer; state: string; reason?: string }> {
  const { offer, id } = await signJobOffer(options, components);
  await options.onOffer?.(offer, id);
  const posted = await components.solver.postJobOffer(offer);
  if (posted.state === 'pending') return { jobOfferId: id, offer, state: posted.state, reason: posted.reason };
  // Matched at once: accepted now, so that the provider can go on while nobody follows the job. A match that
  // comes later waits for `followJob` (`lilypad get`) to accept it.
  const refusal = await acceptMatch(offer, posted.deal, components);
  return { jobOfferId: id, offer, state: posted.state, reason: refusal };
}

/** The job creator's half of the mediator draw: secret until a challenge, and derivable again from its key. */
async function mediatorSeedOf(components: Pick<JobCreatorComponents, 'chain'>, nonce: bigint): Promise<Hex> {
  return keccak256(await components.chain.walletClient.signMessage({ message: `lilypad mediator seed ${nonce}` }));
}

/** Resolves and renders the module (so a bad module or a missing input fails before anything is signed) and signs the offer. */
export async function signJobOffer(options: RunJobOptions, components: Pick<JobCreatorComponents, 'chain' | 'domain' | 'modules'>): Promise<{ offer: JobOffer; id: Hex; mediatorSeed: Hex }> {
  const account = options.jobCreator ?? components.chain.walletClient.account.address;

  // Render here first, so that a bad module or a missing input fails before anything is signed.
  const module = await components.modules.resolve(options.module);
  const spec = renderModule(options.module, module.template, options.inputs);
  const details = { moduleName: options.module, machine: machineOf(spec), engine: engineOf(spec) };

  const nonce = randomNonce();
  const mediatorSeed = await mediatorSeedOf(components, nonce);
  const terms: SignedJobOfferTerms = {
    jobCreator: account,
    moduleId: moduleIdOf(module.ref),
    inputsHash: inputsHashOf(options.inputs),
    detailsHash: jobOfferDetailsHashOf(details),
    maxPrice: options.maxPrice,
    minCollateral: options.minCollateral ?? 0n,
    mediators: options.mediators,
    mediatorSeedHash: mediatorSeedHashOf(mediatorSeed),
    mediationFee: options.mediationFee ?? 10n ** 17n,
    submitTimeout: options.submitTimeout ?? defaultDealTimeouts.submitTimeout,
    judgeWindow: options.judgeWindow ?? defaultDealTimeouts.judgeWindow,
    mediationTimeout: options.mediationTimeout ?? defaultDealTimeouts.mediationTimeout,
    nonce,
    expiry: BigInt(Math.floor(Date.now() / 1000) + (options.offerTtlSeconds ?? 600)),
  };
  const signature = await components.chain.walletClient.signTypedData({
    domain: offerDomain(components.domain.chainId, components.domain.dealsAddress),
    types: offerTypes,
    primaryType: 'JobOffer',
    message: terms,
  });
  const offer: JobOffer = { terms, ...details, module: module.ref, inputs: options.inputs, signature };
  return { offer, id: jobOfferId(components.domain, terms), mediatorSeed };
}

/**
 * Takes a signed job offer to the end: (re)posts it, follows the deal on chain, downloads and verifies the
 * result, then accepts it (gasless) or challenges it. Safe to call again for the same offer after a crash or
 * a lost connection: every step starts from what the chain says.
 */
export async function followJob(
  offer: JobOffer,
  options: RunJobOptions,
  components: JobCreatorComponents,
  /** The seed `signJobOffer` derived, when at hand; derived again from the key otherwise. */
  knownMediatorSeed?: Hex,
): Promise<JobResult> {
  const emit = options.onProgress ?? (() => undefined);
  const id = jobOfferId(components.domain, offer.terms);
  const mediatorSeed = knownMediatorSeed ?? (await mediatorSeedOf(components, offer.terms.nonce));

  const { deal, onChain } = await followDeal(id, offer, options, components, emit);
  const cid = CID.parse(onChain.resultCid);

  // "Awaiting verification": every block is checked against its CID before the result is judged.
  const dir = path.join(options.resultsDir, cid.toString());
  let accepted: boolean;
  try {
    await fetchDag(cid, { gatewayUrl: deal.resourceOffer.details.resultsUrl, blockstore: components.blockstore, signal: options.signal });
    await rm(dir, { recursive: true, force: true });
    await mkdir(options.resultsDir, { recursive: true });
    await exportDirectory(cid, components.blockstore, dir);
    accepted = options.judge ? await options.judge({ cid: cid.toString(), dir }) : true;
  } catch (error) {
    if (options.signal?.aborted) throw error;
    // Only a result shown to be wrong is challenged. A failure on this side (a full or read-only disk, a
    // download cut off) says nothing about the result, and a challenge would only cost the mediation fee.
    const local = localFailureOf(error);
    if (local) {
      throw new JobError(`${local} result ${cid} of deal ${deal.dealId}: ${(error as Error).message}; nothing was challenged. Fix it and run \`lilypad get ${id}\` to fetch it again (the judge window passing pays the provider meanwhile)`, {
        code: 'result-not-fetched',
        cause: error,
      });
    }
    accepted = false;
  }

  if (!accepted) {
    const state = await challengeAndFollow(deal, mediatorSeed, onChain, components, emit, options.signal);
    return { dealId: deal.dealId, cid: cid.toString(), dir, stdout: '', exitCode: -1, resourceProvider: onChain.resourceProvider, price: onChain.price, state };
  }

  const acceptance = await signResultsAcceptance(components.chain.walletClient, {
    deals: components.domain.dealsAddress,
    chainId: components.domain.chainId,
    dealId: deal.dealId,
  });
  // The provider settles with it; if it never does, the judge window passing accepts the results all the same.
  await postAcceptance(deal.resourceOffer.details.resultsUrl, deal.dealId, acceptance).catch(() => undefined);
  emit({ type: 'results:accepted', dealId: deal.dealId });
  emit({ type: 'results:downloaded', cid: cid.toString(), dir });

  return {
    dealId: deal.dealId,
    cid: cid.toString(),
    dir,
    stdout: await readFile(path.join(dir, 'stdout'), 'utf8'),
    exitCode: Number(await readFile(path.join(dir, 'exitCode'), 'utf8')),
    error: (await readFile(path.join(dir, 'error'), 'utf8').catch(() => undefined))?.trim(),
    resourceProvider: onChain.resourceProvider,
    price: onChain.price,
    state: onChain.state,
  };
}

/**
 * Checks the solver's match against this job's own signed offer, as the chain will, and hands the solver the
 * job creator's signed acceptance of it: only then can the provider agree the deal, and only on these terms.
 * Returns why the match was refused, or undefined once it is accepted.
 */
async function acceptMatch(offer: JobOffer, deal: Deal, components: JobCreatorComponents): Promise<string | undefined> {
  // The provider's signature need not be checked: only the provider can agree the deal, and it agrees only
  // offers it signed. What this acceptance fixes is the terms, by their hash.
  const { resourceOffer } = deal;
  const misfit = termsMisfitOf(offer.terms, resourceOffer.terms);
  if (misfit) return `the solver matched a resource offer that ${termsMisfitText[misfit]}`;
  const signature = await components.chain.walletClient.signTypedData(
    matchAcceptanceTypedData(components.domain, jobOfferId(components.domain, offer.terms), resourceOfferId(components.domain, resourceOffer.terms)),
  );
  await components.solver.acceptMatch(deal.dealId, signature);
  return undefined;
}

/** Codes of a result that is shown to be wrong: its blocks do not hash to their CIDs or cannot be a result. */
const wrongResultCodes = new Set(['block-mismatch', 'block-too-large', 'unsupported-codec', 'unsupported-hash']);

/**
 * What went wrong on the job creator's side while fetching or writing a result, in words that start a
 * sentence; undefined when the result itself is at fault. The file system's errors carry an errno code
 * (ENOSPC, EACCES, EROFS, ...), a lost connection a storage code that is not one of a wrong result.
 */
function localFailureOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') return undefined;
  if (/^E[A-Z]+$/.test(code)) return 'could not write the';
  if (error instanceof StorageError && !wrongResultCodes.has(code)) return 'could not download the';
  return undefined;
}

async function postAcceptance(resultsUrl: string, dealId: Hex, signature: Hex): Promise<void> {
  const response = await fetch(new URL(`/api/v1/deals/${dealId}/acceptance`, resultsUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ signature }),
  });
  if (!response.ok) throw new JobError(`the provider refused the acceptance: HTTP ${response.status}`, { code: 'acceptance-refused', retryable: true });
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new JobError('the job was cancelled', { code: 'cancelled' }));
    }, { once: true });
  });

/** Challenges the results (the mediation fee goes with it), then follows the mediation to its end. */
async function challengeAndFollow(
  deal: Deal,
  mediatorSeed: Hex,
  onChain: OnChainDealView,
  components: JobCreatorComponents,
  emit: (event: JobProgressEvent) => void,
  signal?: AbortSignal,
): Promise<OnChainDealView['state']> {
  const challenge: ChallengeArgs = {
    dealId: deal.dealId,
    jobCreatorSeed: mediatorSeed,
    candidates: sharedMediatorsOf(deal.jobOffer.terms.mediators, deal.resourceOffer.terms.mediators),
    providerSeed: onChain.providerSeed,
  };
  const { mediator } = components.challenge
    ? await components.challenge(challenge)
    : await challengeResults(components.chain, { deals: components.domain.dealsAddress, ...challenge });
  emit({ type: 'results:challenged', dealId: deal.dealId, mediator });
  return await followChallenge(components, deal.dealId, { signal, onProgress: emit });
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
): Promise<{ deal: Deal; onChain: OnChainDealView }> {
  const account = offer.terms.jobCreator.toLowerCase();
  let reported: 'none' | 'agreed' | 'results' = 'none';
  let lastReason = 'no resource provider has answered yet';

  return await new Promise<{ deal: Deal; onChain: OnChainDealView }>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, found?: { deal: Deal; onChain: OnChainDealView }) => {
      if (settled) return;
      settled = true;
      clearTimeout(expiryTimer);
      clearTimeout(submitTimer);
      clearInterval(pollTimer);
      options.signal?.removeEventListener('abort', onAbort);
      subscription.close();
      if (error) reject(error);
      else resolve(found!);
    };
    const onAbort = () => finish(new JobError('the job was cancelled', { code: 'cancelled' }));
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const expiresInMs = Number(offer.terms.expiry) * 1000 - Date.now();
    const expiryTimer = setTimeout(() => {
      if (reported !== 'none') return;
      // The chain has the last word: a deal agreed just before the expiry still counts.
      components
        .readDeal(id)
        .then((onChain) => {
          if (onChain.state === 'none') {
            finish(new JobError(`no resource provider took the job before its offer expired: ${lastReason}`, { code: 'job-unmatched' }));
          } else if (options.knownDeal) check(options.knownDeal).catch((error) => finish(error));
        })
        .catch((error) => finish(error));
    }, Math.max(0, expiresInMs) + 1000);
    let submitTimer: NodeJS.Timeout | undefined;
    // Once the deal is known, the chain is looked at every second too, so that a lost solver connection
    // (or a solver restart) does not stop the job.
    let lastDeal: Deal | undefined = options.knownDeal;
    const pollTimer = setInterval(() => {
      if (lastDeal) check(lastDeal).catch((error) => { if ((error as { code?: string }).code === 'rpc-unreachable') finish(error); }); // a chain gone for good ends the job
    }, 1000);

    // A provider that agreed but never submits: once its deadline passes, end the deal and take the
    // collateral (a transaction of the job creator's; anyone else may send it too).
    const watchSubmitDeadline = (dealId: Hex, deadline: bigint) => {
      submitTimer = setTimeout(async () => {
        try {
          const now = await components.readDeal(dealId);
          if (now.state !== 'agreed') return;
          await timeoutSubmitResults(components.chain, { deals: components.domain.dealsAddress, dealId });
          finish(new JobError('the resource provider did not submit results in time; your payment came back to your escrow with its collateral', { code: 'submit-timed-out' }));
        } catch (error) {
          finish(error as Error);
        }
      }, Math.max(0, Number(deadline) * 1000 - Date.now()) + 1500);
    };

    const check = async (deal: Deal) => {
      const onChain = await components.readDeal(deal.dealId);
      if (onChain.jobCreator.toLowerCase() !== account) return;
      if (reported === 'none' && onChain.state !== 'none') {
        reported = 'agreed';
        emit({ type: 'deal:agreed', dealId: deal.dealId, resourceProvider: onChain.resourceProvider, price: onChain.price });
        if (onChain.state === 'agreed') watchSubmitDeadline(deal.dealId, onChain.deadline);
      }
      if (onChain.state === 'submit-timed-out') {
        finish(new JobError('the resource provider did not submit results in time; your payment came back to your escrow with its collateral', { code: 'submit-timed-out' }));
        return;
      }
      if (reported === 'agreed' && onChain.state !== 'agreed' && onChain.state !== 'none') {
        reported = 'results';
        emit({ type: 'results:submitted', dealId: deal.dealId, cid: onChain.resultCid });
        finish(undefined, { deal, onChain });
      }
    };

    const subscription = components.solver.subscribe({ jobOffer: id, jobCreator: offer.terms.jobCreator, signer: components.chain.walletClient, domain: components.domain }, (event) => {
      if (event.type === 'job:unmatched') {
        lastReason = event.reason;
        emit({ type: 'job:unmatched', reason: event.reason });
        return;
      }
      if (event.deal.dealId.toLowerCase() !== id.toLowerCase()) return;
      lastDeal = event.deal;
      options.onDeal?.(event.deal);
      if (event.type === 'deal:matched') {
        if (event.deal.matchAcceptance) return;
        // A refused match is not the end: the solver may match the job again elsewhere.
        acceptMatch(offer, event.deal, components)
          .then((refusal) => {
            if (refusal) {
              lastReason = refusal;
              emit({ type: 'job:unmatched', reason: refusal });
            }
          })
          .catch((error) => {
            lastReason = `could not accept the match: ${(error as Error).message}`;
          });
        return;
      }
      check(event.deal).catch((error) => finish(error));
    }, () => {
      if (!lastDeal) finish(new JobError(`lost the connection to the solver while waiting for the deal; \`lilypad get ${id}\` takes it up again`, { code: 'solver-disconnected', retryable: true }));
    });

    subscription.ready
      .then(async () => {
        // Following again, the solver may no longer know the deal: the one seen before is checked on chain.
        if (options.knownDeal) await check(options.knownDeal);
        if (settled) return;
        const posted = await components.solver.postJobOffer(offer).catch((error) => {
          // Posted before (this job is being followed again): the subscription has told of its deal.
          if (error instanceof SolverError && (error.details as { status?: number } | undefined)?.status === 409) return undefined;
          if (options.knownDeal) return undefined; // the chain and the provider are enough from here
          throw error;
        });
        if (!posted) return;
        emit({ type: 'job:submitted', jobOfferId: id });
        if (posted.state === 'pending') {
          lastReason = posted.reason;
          emit({ type: 'job:unmatched', reason: posted.reason });
        }
      })
      .catch((error) => finish(error));
  });
}
