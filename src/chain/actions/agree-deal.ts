import { parseEventLogs, type Address, type Hash, type Hex } from 'viem';
import type { SignedJobOfferTerms, SignedResourceOfferTerms } from '../../protocol/eip712.js';
import { ChainError } from '../../lib/errors.js';
import type { ChainClients } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';

export interface AgreeDealParameters {
  deals: Address;
  jobOffer: SignedJobOfferTerms;
  jobCreatorSignature: Hex;
  /** The sender's own offer: only the resource provider can agree a deal (its transaction is its consent). */
  resourceOffer: SignedResourceOfferTerms;
  /** The job creator's signature of MatchAcceptance(dealId, resourceOfferId): it accepted this offer for its job. */
  matchAcceptance: Hex;
}

export interface AgreeDealReturnType {
  /** The EIP-712 digest of the job offer. */
  dealId: Hex;
  price: bigint;
  collateral: bigint;
  /** The mediators both offers list; the deal's mediator is drawn from them on a challenge. */
  mediatorCandidates: readonly Address[];
  transactionHash: Hash;
  gasUsed: bigint;
}

/**
 * Agrees a deal on chain from a signed job offer, the job creator's acceptance of the match and the
 * sender's own resource offer. Only the resource provider may send it; the job creator needs no gas.
 * @throws ChainError, e.g. "agreeDeal reverted: PriceAboveMaximum(price=…, maxPrice=…)".
 */
export async function agreeDeal(clients: ChainClients, args: AgreeDealParameters): Promise<AgreeDealReturnType> {
  const receipt = await transact(clients, 'agreeDeal', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'agreeDeal',
      args: [args.jobOffer, args.jobCreatorSignature, args.resourceOffer, args.matchAcceptance],
    }),
  );
  const [agreed] = parseEventLogs({ abi: lilypadDealsAbi, eventName: 'DealAgreed', logs: receipt.logs });
  if (!agreed) {
    throw new ChainError(`agreeDeal: transaction ${receipt.transactionHash} emitted no DealAgreed event`, {
      code: 'internal',
    });
  }
  return {
    dealId: agreed.args.dealId,
    price: agreed.args.price,
    collateral: agreed.args.collateral,
    mediatorCandidates: agreed.args.mediatorCandidates,
    transactionHash: receipt.transactionHash,
    gasUsed: receipt.gasUsed,
  };
}
