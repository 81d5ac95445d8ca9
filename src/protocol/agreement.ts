/**
 * The checks the deal contract makes of two offers' terms when a deal is agreed (`agreeDeal` in
 * contracts/LilypadDeals.sol), in one place, so that the solver matches, the job creator accepts a match and
 * the provider agrees only what the chain would take.
 */
import type { SignedJobOfferTerms, SignedResourceOfferTerms } from './eip712.js';
import { sharedMediatorsOf } from './mediation.js';

export type TermsMisfit = 'price' | 'least collateral' | 'mediator' | 'timeouts';

export function collateralOf(terms: Pick<SignedResourceOfferTerms, 'price' | 'collateralMultiple'>): bigint {
  return terms.price * terms.collateralMultiple;
}

/** What keeps the two offers' terms from making a deal on chain, or undefined when they can. */
export function termsMisfitOf(job: SignedJobOfferTerms, resource: SignedResourceOfferTerms): TermsMisfit | undefined {
  if (resource.price > job.maxPrice) return 'price';
  if (collateralOf(resource) < job.minCollateral) return 'least collateral';
  if (sharedMediatorsOf(job.mediators, resource.mediators).length === 0) return 'mediator';
  if (
    job.submitTimeout < resource.minSubmitTimeout ||
    job.judgeWindow > resource.maxJudgeWindow ||
    job.mediationTimeout > resource.maxMediationTimeout
  ) {
    return 'timeouts';
  }
  return undefined;
}

/** A user's words for what an offer lacks, after "the offer …". */
export const termsMisfitText: Record<TermsMisfit, string> = {
  price: 'costs more than the price ceiling',
  'least collateral': 'puts up less collateral than the job asks',
  mediator: 'shares no mediator',
  timeouts: 'does not accept the job’s timeouts',
};
