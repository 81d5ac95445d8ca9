/**
 * The job creator's SDK, as `lilypad run`, `lilypad get` and the bridge call it: `runJob` (a job from
 * module to judged result), `postJob` (`--detach`) and `followJob` (a posted job taken to its end, again
 * after a crash), and what follows results on chain: the download by CID with every block verified, the
 * judging, the folder, and the acceptance (gasless: signed here, settled by the provider) or the challenge.
 * Signing the offer is sign-job-offer.ts, accepting the match accept-match.ts, following the deal to its
 * results follow-deal.ts, and following a challenge follow-challenge.ts. The CLI and the web app render the
 * same progress events.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CID } from 'multiformats/cid';
import type { Hex } from 'viem';
import { challengeResults, signResultsAcceptance } from '../chain/index.js';
import { JobError, StorageError } from '../lib/errors.js';
import type { Deal, OnChainDealView } from '../protocol/deals.js';
import { sharedMediatorsOf } from '../protocol/mediation.js';
import { jobOfferId, verifyResourceOfferSignature, type JobOffer } from '../protocol/offers.js';
import { peersThenGateways } from '../storage/block-source.js';
import { exportDirectory } from '../storage/index.js';
import { peerIdsOf } from '../storage/ipfs-node.js';
import { acceptMatch } from './accept-match.js';
import { followChallenge } from './follow-challenge.js';
import { followDeal } from './follow-deal.js';
import { liveOutputReceiver } from './live-output.js';
import { mediatorSeedOf, signJobOffer } from './sign-job-offer.js';
import type { ChallengeArgs, JobCreatorComponents, JobProgressEvent, JobResult, RunJobOptions } from './types.js';

export { signJobOffer } from './sign-job-offer.js';

export type { ChallengeArgs, JobCreatorComponents, JobProgressEvent, JobResult, RunJobOptions } from './types.js';

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
  const mediatorSeed = knownMediatorSeed ?? (await mediatorSeedOf(components.chain, offer.terms.nonce));

  // The job's stdout as it runs, from the deal's provider only: the peers it signed into its resource offer.
  const live = options.onProgress && components.ipfs ? liveOutputReceiver(components.ipfs).follow(id, (text) => emit({ type: 'job:output', dealId: id, text })) : undefined;
  const expectProvider = async (deal: Deal) => {
    if (live && (await verifyResourceOfferSignature(components.domain, deal.resourceOffer))) live.expect(peerIdsOf(deal.resourceOffer.details.ipfsPeers ?? []));
  };
  const { deal, onChain } = await followDeal(id, offer, options, components, emit, expectProvider).catch((error: unknown) => {
    live?.close();
    throw error;
  });
  const cid = CID.parse(onChain.resultCid);

  // "Awaiting verification": every block is checked against its CID before the result is judged.
  const dir = path.join(options.resultsDir, cid.toString());
  let judged: Awaited<ReturnType<typeof fetchAndJudge>>;
  try {
    judged = await inTurnForFolder(dir, () => fetchAndJudge(id, deal, cid, dir, options, components));
  } finally {
    // The result is here (or will not be): live output that comes later would only repeat it.
    live?.close();
  }

  if (!judged.accepted) {
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
    stdout: judged.stdout,
    exitCode: judged.exitCode,
    error: judged.error,
    resourceProvider: onChain.resourceProvider,
    price: onChain.price,
    state: onChain.state,
  };
}

/**
 * Downloads the result (every block checked), writes its folder and judges it; a result accepted is read
 * too. A failure on this side throws; only a result shown wrong comes back not accepted.
 */
async function fetchAndJudge(
  id: Hex,
  deal: Deal,
  cid: CID,
  dir: string,
  options: RunJobOptions,
  components: JobCreatorComponents,
): Promise<{ accepted: false } | { accepted: true; stdout: string; exitCode: number; error?: string }> {
  let accepted: boolean;
  try {
    const source = peersThenGateways({ ipfs: components.ipfs, gatewayUrls: [deal.resourceOffer.details.resultsUrl], blockstore: components.blockstore });
    await source.fetchDag(cid, { signal: options.signal, peers: deal.resourceOffer.details.ipfsPeers });
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
      // A provider that says it no longer holds the result (its keeping time passed) will not have it later either.
      const gone = error instanceof StorageError && error.code === 'block-missing' && !error.retryable;
      const next = gone
        ? 'Fetching it again will not help: this provider no longer holds it'
        : `Fix it and run \`lilypad get ${id}\` to fetch it again (the judge window passing pays the provider meanwhile)`;
      throw new JobError(`${local} result ${cid} of deal ${deal.dealId}: ${(error as Error).message}; nothing was challenged. ${next}`, {
        code: 'result-not-fetched',
        cause: error,
      });
    }
    accepted = false;
  }
  if (!accepted) return { accepted };
  // Read in this job's turn: once it ends, another job with the same result may write the folder again.
  return {
    accepted,
    stdout: await readFile(path.join(dir, 'stdout'), 'utf8'),
    exitCode: Number(await readFile(path.join(dir, 'exitCode'), 'utf8')),
    error: (await readFile(path.join(dir, 'error'), 'utf8').catch(() => undefined))?.trim(),
  };
}

/**
 * Jobs of the same module and inputs have the same result CID, so the same folder: when several run at once
 * (the studio runs people's jobs in parallel), one at a time replaces, judges and reads it, in the order they
 * came. Per process: the folder is this job creator's.
 */
const folderTurns = new Map<string, Promise<void>>();

async function inTurnForFolder<T>(dir: string, task: () => Promise<T>): Promise<T> {
  const previous = folderTurns.get(dir) ?? Promise.resolve();
  const turn = previous.then(task);
  const done = turn.then(() => undefined, () => undefined);
  folderTurns.set(dir, done);
  void done.then(() => {
    if (folderTurns.get(dir) === done) folderTurns.delete(dir);
  });
  return await turn;
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
