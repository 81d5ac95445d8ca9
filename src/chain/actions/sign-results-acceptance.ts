import type { Address, Hex } from 'viem';
import { acceptanceTypes, offerDomain } from '../../protocol/eip712.js';
import type { LilypadWalletClient } from '../clients.js';

export interface SignResultsAcceptanceParameters {
  deals: Address;
  chainId: number;
  dealId: Hex;
}

/**
 * The job creator's signed acceptance of a deal's results (EIP-712 ResultsAcceptance(dealId)); anyone can
 * put it on chain with `settleResults`, so accepting costs the job creator no gas. Sign only after the
 * results on chain were checked: they cannot change once submitted.
 */
export function signResultsAcceptance(walletClient: LilypadWalletClient, args: SignResultsAcceptanceParameters): Promise<Hex> {
  return walletClient.signTypedData({
    domain: offerDomain(args.chainId, args.deals),
    types: acceptanceTypes,
    primaryType: 'ResultsAcceptance',
    message: { dealId: args.dealId },
  });
}
