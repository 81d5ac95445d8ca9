/**
 * What the solver refuses at posting, beyond the offers' shape (protocol/offers.ts keeps every uint within
 * uint256): terms that the deal contract could never agree (its amounts are uint96, its deadlines uint40),
 * so that no job is matched to an offer that can only fail, and a results URL that a job creator could not
 * safely fetch from. Each answer is one line for a 400.
 */
import type { JobOffer, ResourceOffer } from '../protocol/offers.js';
import { collateralOf } from './order-book.js';

/** The largest amount the deal contract stores (price, collateral, mediation fee are uint96). */
export const MAX_AMOUNT = 2n ** 96n - 1n;
/** The longest timeout accepted: the contract keeps deadlines (now + timeout) in a uint40. */
export const MAX_DURATION_SECONDS = 2n ** 32n;

export function resourceOfferProblem(offer: ResourceOffer): string | undefined {
  const { terms, details } = offer;
  let url: URL;
  try {
    url = new URL(details.resultsUrl);
  } catch {
    return 'resource offer resultsUrl is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `resource offer resultsUrl must be an http(s) URL, not ${url.protocol}`;
  if (terms.price > MAX_AMOUNT) return `resource offer price is more than the deal contract holds (at most ${MAX_AMOUNT} wei)`;
  if (collateralOf(offer) > MAX_AMOUNT) return `resource offer collateral (price × collateralMultiple) is more than the deal contract holds (at most ${MAX_AMOUNT} wei)`;
  if (terms.minSubmitTimeout > MAX_DURATION_SECONDS) return `resource offer minSubmitTimeout is longer than ${MAX_DURATION_SECONDS} s`;
  return undefined;
}

export function jobOfferProblem(offer: JobOffer): string | undefined {
  const { terms } = offer;
  if (terms.mediationFee > MAX_AMOUNT) return `job offer mediationFee is more than the deal contract holds (at most ${MAX_AMOUNT} wei)`;
  for (const name of ['submitTimeout', 'judgeWindow', 'mediationTimeout'] as const) {
    if (terms[name] > MAX_DURATION_SECONDS) return `job offer ${name} is longer than ${MAX_DURATION_SECONDS} s`;
  }
  return undefined;
}
