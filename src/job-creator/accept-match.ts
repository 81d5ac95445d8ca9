/**
 * The job creator's side of a match: the solver's pairing is checked against the job's own signed offer,
 * as the chain will check it, and only then signed (`MatchAcceptance(dealId, resourceOfferId)`), which
 * the provider needs to agree the deal, on exactly these terms.
 */
import { termsMisfitOf, termsMisfitText } from '../protocol/agreement.js';
import type { Deal } from '../protocol/deals.js';
import { jobOfferId, matchAcceptanceTypedData, resourceOfferId, type JobOffer } from '../protocol/offers.js';
import type { JobCreatorComponents } from './types.js';

/** Hands the solver the signed acceptance of `deal`; returns why the match was refused, or undefined once it is accepted. */
export async function acceptMatch(offer: JobOffer, deal: Deal, components: Pick<JobCreatorComponents, 'chain' | 'domain' | 'solver'>): Promise<string | undefined> {
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
