/**
 * Following a challenged deal to its end: the mediator's ruling, or the mediation timeout, which this
 * step sends itself once it is due (anyone may, and a job creator that waits has the most reason to).
 * One step for every caller that challenges: `runJob`, `lilypad challenge` and the bridge.
 */
import { zeroAddress, type Hex } from 'viem';
import { timeoutMediation, type ChainClients } from '../chain/index.js';
import { JobError } from '../lib/errors.js';
import { sleep } from '../lib/sleep.js';
import { isFinal } from '../protocol/deal-states.js';
import type { OnChainDealView, ReadDeal } from '../protocol/deals.js';
import type { OfferDomain } from '../protocol/offers.js';
import type { SolverClient } from '../solver/client.js';
import type { JobProgressEvent } from './types.js';

export interface FollowChallengeComponents {
  chain: ChainClients;
  domain: OfferDomain;
  readDeal: ReadDeal;
  /** Told to read the ruled deal again, so that its parties hear of it without waiting for the solver's own look. */
  solver: SolverClient;
}

export interface FollowChallengeOptions {
  signal?: AbortSignal;
  onProgress?: (event: JobProgressEvent) => void;
}

/** A mediator's ruling is not hurried: a quarter second between looks is plenty and cheap on a local chain. */
const POLL_MS = 250;

/**
 * Waits until the challenged deal `dealId` reaches a final state and returns it (`mediation-accepted`,
 * `mediation-rejected` or `mediation-timed-out`), sending the mediation timeout once the chain's clock
 * has passed the deal's deadline. Stopping (`signal`) leaves the challenge standing on chain.
 */
export async function followChallenge(components: FollowChallengeComponents, dealId: Hex, options: FollowChallengeOptions = {}): Promise<OnChainDealView['state']> {
  const stopped = () => new JobError('stopped waiting for the ruling; the challenge stands', { code: 'cancelled' });
  for (;;) {
    if (options.signal?.aborted) throw stopped();
    const deal = await components.readDeal(dealId);
    if (deal.state !== 'none' && deal.state !== 'results-checked' && isFinal(deal.state)) {
      options.onProgress?.({ type: 'mediation:ruled', dealId, state: deal.state });
      await components.solver.syncDeal(dealId).catch(() => undefined);
      return deal.state;
    }
    // The deadline is the chain's: its clock, not this machine's, decides when the timeout is accepted.
    const chainNow = (await components.chain.publicClient.getBlock()).timestamp;
    if (deal.state === 'results-checked' && chainNow > deal.deadline && deal.mediator !== zeroAddress) {
      // Someone else may have sent it first; the next look tells.
      await timeoutMediation(components.chain, { deals: components.domain.dealsAddress, dealId }).catch(() => undefined);
      continue;
    }
    await sleep(POLL_MS, options.signal, stopped);
  }
}
