/**
 * Following a job offer until the chain shows results for its deal: posting it, accepting the solver's
 * match, ending a deal whose provider never submits (the submit timeout), and giving up on an offer that
 * expired unmatched, or at once when the network says nothing fits and nothing can change
 * (`failWhenUnmatched`). The solver's events only say when to look; what counts is read from the chain.
 */
import { isAddressEqual, type Hex } from 'viem';
import { timeoutSubmitResults } from '../chain/index.js';
import { msUntil } from '../lib/clock.js';
import { JobError, SolverError } from '../lib/errors.js';
import { Mailbox } from '../lib/sleep.js';
import type { Deal, DealEvent, OnChainDealView } from '../protocol/deals.js';
import type { JobOffer } from '../protocol/offers.js';
import type { JobOfferPostResult } from '../solver/client.js';
import { acceptMatch } from './accept-match.js';
import type { JobCreatorComponents, JobProgressEvent, RunJobOptions } from './types.js';

/** The deal with results on chain, as `followDeal` found it. */
export interface DealWithResults {
  deal: Deal;
  onChain: OnChainDealView;
}

/** What the loop wakes up for, besides its due times. */
type Message =
  | { type: 'solver'; event: DealEvent }
  | { type: 'solver:closed' }
  | { type: 'subscribed' }
  | { type: 'posted'; posted: JobOfferPostResult | undefined }
  | { type: 'failed'; error: unknown };

/**
 * Once the deal is known, the chain is read this often too, so that a lost solver connection (or a solver
 * restart) does not stop the job.
 */
const POLL_MS = 1000;
/** Slack after a deadline before acting on it, so that the chain's next block is past it too. */
const EXPIRY_SLACK_MS = 1000;
const SUBMIT_DEADLINE_SLACK_MS = 1500;

const cancelled = () => new JobError('the job was cancelled', { code: 'cancelled' });
const submitTimedOut = () =>
  new JobError('the resource provider did not submit results in time; your payment came back to your escrow with its collateral', { code: 'submit-timed-out' });

/**
 * Posts the offer (or takes it up again) and returns once the chain shows results for its deal. `onProvider` is
 * told of the deal whose provider is to run the job: before its match is accepted (so before the provider can
 * start), and when the chain shows it agreed.
 */
export async function followDeal(
  id: Hex,
  offer: JobOffer,
  options: RunJobOptions,
  components: JobCreatorComponents,
  emit: (event: JobProgressEvent) => void,
  onProvider?: (deal: Deal) => void | Promise<void>,
): Promise<DealWithResults> {
  const { signal } = options;
  if (signal?.aborted) throw cancelled();
  let agreed = false;
  let lastReason = 'no resource provider has answered yet';
  let lastDeal: Deal | undefined = options.knownDeal;
  // Due times, in Date.now() milliseconds; undefined once done with.
  let expiryCheckAt: number | undefined = Date.now() + Math.max(0, msUntil(offer.terms.expiry)) + EXPIRY_SLACK_MS;
  let submitCheck: { at: number; dealId: Hex } | undefined;
  let pollAt = Date.now() + POLL_MS;

  /** Reads the deal on chain and reports what moved; the deal with results once they are there. */
  const check = async (deal: Deal): Promise<DealWithResults | undefined> => {
    const onChain = await components.readDeal(deal.dealId);
    if (!isAddressEqual(onChain.jobCreator, offer.terms.jobCreator)) return undefined;
    if (!agreed && onChain.state !== 'none') {
      agreed = true;
      emit({ type: 'deal:agreed', dealId: deal.dealId, resourceProvider: onChain.resourceProvider, price: onChain.price });
      if (onProvider && isAddressEqual(deal.resourceOffer.terms.resourceProvider, onChain.resourceProvider)) await onProvider(deal);
      if (onChain.state === 'agreed') submitCheck = { at: Date.now() + Math.max(0, msUntil(onChain.deadline)) + SUBMIT_DEADLINE_SLACK_MS, dealId: deal.dealId };
    }
    if (onChain.state === 'submit-timed-out') throw submitTimedOut();
    if (agreed && onChain.state !== 'agreed' && onChain.state !== 'none') {
      emit({ type: 'results:submitted', dealId: deal.dealId, cid: onChain.resultCid });
      return { deal, onChain };
    }
    return undefined;
  };

  const unmatched = (reason: string) => {
    // Where nothing can change (one provider, as on the embedded network), waiting out the offer's life
    // would only delay the same answer.
    if (options.failWhenUnmatched) throw new JobError(`no resource provider can take the job: ${reason}`, { code: 'job-unmatched' });
    lastReason = reason;
    emit({ type: 'job:unmatched', reason });
  };

  const mailbox = new Mailbox<Message>();
  const subscription = components.solver.subscribe(
    { jobOffer: id, jobCreator: offer.terms.jobCreator, signer: components.chain.walletClient, domain: components.domain },
    (event) => mailbox.push({ type: 'solver', event }),
    () => mailbox.push({ type: 'solver:closed' }),
  );
  subscription.ready.then(
    () => mailbox.push({ type: 'subscribed' }),
    (error) => mailbox.push({ type: 'failed', error }),
  );

  const post = () =>
    components.solver
      .postJobOffer(offer)
      .catch((error) => {
        // Posted before (this job is being followed again): the subscription has told of its deal.
        if (error instanceof SolverError && (error.details as { status?: number } | undefined)?.status === 409) return undefined;
        if (options.knownDeal) return undefined; // the chain and the provider are enough from here
        throw error;
      })
      .then(
        (posted) => mailbox.push({ type: 'posted', posted }),
        (error) => mailbox.push({ type: 'failed', error }),
      );

  const handle = async (message: Message): Promise<DealWithResults | undefined> => {
    switch (message.type) {
      case 'failed':
        throw message.error;
      case 'subscribed': {
        // Following again, the solver may no longer know the deal: the one seen before is checked on chain.
        const found = options.knownDeal ? await check(options.knownDeal) : undefined;
        if (!found) void post();
        return found;
      }
      case 'posted':
        if (!message.posted) return undefined;
        emit({ type: 'job:submitted', jobOfferId: id });
        if (message.posted.state === 'pending') unmatched(message.posted.reason);
        return undefined;
      case 'solver:closed':
        if (!lastDeal) throw new JobError(`lost the connection to the solver while waiting for the deal; \`lilypad get ${id}\` takes it up again`, { code: 'solver-disconnected', retryable: true });
        return undefined;
      case 'solver': {
        const { event } = message;
        if (event.type === 'job:unmatched') {
          unmatched(event.reason);
          return undefined;
        }
        if (event.deal.dealId.toLowerCase() !== id.toLowerCase()) return undefined;
        lastDeal = event.deal;
        options.onDeal?.(event.deal);
        if (event.type !== 'deal:matched') return await check(event.deal);
        if (event.deal.matchAcceptance) return undefined;
        await onProvider?.(event.deal);
        // A refused match is not the end: the solver may match the job again elsewhere.
        const refusal = await acceptMatch(offer, event.deal, components).catch((error) => {
          lastReason = `could not accept the match: ${(error as Error).message}`;
          return undefined;
        });
        if (refusal) unmatched(refusal);
        return undefined;
      }
    }
  };

  /** The due times that have come: the offer's expiry, the provider's submit deadline, the next poll. */
  const onDue = async (): Promise<DealWithResults | undefined> => {
    if (submitCheck && Date.now() >= submitCheck.at) {
      const { dealId } = submitCheck;
      submitCheck = undefined;
      // A provider that agreed but never submits: end the deal and take the collateral (a transaction of
      // the job creator's; anyone else may send it too).
      if ((await components.readDeal(dealId)).state === 'agreed') {
        await timeoutSubmitResults(components.chain, { deals: components.domain.dealsAddress, dealId });
        throw submitTimedOut();
      }
    }
    if (expiryCheckAt !== undefined && Date.now() >= expiryCheckAt) {
      expiryCheckAt = undefined;
      if (!agreed) {
        // The chain has the last word: a deal agreed just before the expiry still counts.
        if ((await components.readDeal(id)).state === 'none') {
          throw new JobError(`no resource provider took the job before its offer expired: ${lastReason}`, { code: 'job-unmatched' });
        }
        if (options.knownDeal) {
          const found = await check(options.knownDeal);
          if (found) return found;
        }
      }
    }
    if (Date.now() >= pollAt) {
      pollAt = Date.now() + POLL_MS;
      if (lastDeal) {
        try {
          return await check(lastDeal);
        } catch (error) {
          // A failed look is tried again at the next poll; only a chain gone for good, or a deal the chain
          // says has ended (the check's own JobError), ends the job.
          if (error instanceof JobError || (error as { code?: string }).code === 'rpc-unreachable') throw error;
        }
      }
    }
    return undefined;
  };

  try {
    for (;;) {
      const next = Math.min(pollAt, expiryCheckAt ?? Infinity, submitCheck?.at ?? Infinity);
      const message = await mailbox.next(next - Date.now(), signal, cancelled);
      let found = message ? await handle(message) : undefined;
      // Also after a message, so that a busy solver cannot hold off the deadlines and the chain poll.
      if (!found && Date.now() >= next) found = await onDue();
      if (found) return found;
    }
  } finally {
    subscription.close();
  }
}
