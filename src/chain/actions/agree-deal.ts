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
  resourceOffer: SignedResourceOfferTerms;
  resourceProviderSignature: Hex;
  /** Must be in both offers' mediator lists. */
  mediator: Address;
}

export interface AgreeDealReturnType {
  /** The EIP-712 digest of the job offer. */
  dealId: Hex;
  price: bigint;
  collateral: bigint;
  transactionHash: Hash;
}

/**
 * Agrees a deal on chain from two signed offers. Any account may send it (the solver, the RP), so the
 * job creator needs no gas.
 * @throws ChainError, e.g. "agreeDeal reverted: PriceAboveMaximum(price=…, maxPrice=…)".
 */
export async function agreeDeal(clients: ChainClients, args: AgreeDealParameters): Promise<AgreeDealReturnType> {
  const receipt = await transact(clients, 'agreeDeal', () =>
    clients.walletClient.writeContract({
      address: args.deals,
      abi: lilypadDealsAbi,
      functionName: 'agreeDeal',
      args: [args.jobOffer, args.jobCreatorSignature, args.resourceOffer, args.resourceProviderSignature, args.mediator],
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
    transactionHash: receipt.transactionHash,
  };
}
