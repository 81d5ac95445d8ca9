import { BaseError, HttpRequestError, isAddressEqual, TimeoutError, zeroAddress, type Address } from 'viem';
import { ChainError } from '../../lib/errors.js';
import { EIP712_DOMAIN_NAME } from '../../protocol/eip712.js';
import type { LilypadPublicClient } from '../clients.js';
import { lilypadDealsAbi } from '../generated/contracts.js';
import { toChainError } from '../errors.js';

export interface CheckDealsContractParameters {
  deals: Address;
  chainId: number;
  /** The setting that named the address, for the message. */
  setting?: string;
}

/**
 * Throws unless `deals` holds the Lilypad deal contract: code is there, and it answers as one (its EIP-712
 * domain is Lilypad's, for this chain and address, and `escrowBalance` answers). Offers signed for another
 * address are refused by the solver with a signature error that hides the cause, so the cause is checked first.
 */
export async function checkDealsContract(client: LilypadPublicClient, args: CheckDealsContractParameters): Promise<void> {
  const notDeals = (why: string): never => {
    throw new ChainError(
      `${args.setting ?? 'the deals address'} ${args.deals} is not a Lilypad deal contract on chain ${args.chainId} (${why}); set it to the network's deal contract`,
      { code: 'deals-contract-invalid', details: { deals: args.deals, chainId: args.chainId } },
    );
  };
  const unreachable = (error: unknown) => error instanceof BaseError && error.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError);
  try {
    const code = await client.getCode({ address: args.deals });
    if (!code || code === '0x') notDeals('no contract there');
    const [[, name, , chainId, verifyingContract]] = await Promise.all([
      client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'eip712Domain' }),
      client.readContract({ address: args.deals, abi: lilypadDealsAbi, functionName: 'escrowBalance', args: [zeroAddress] }),
    ]);
    if (name !== EIP712_DOMAIN_NAME || chainId !== BigInt(args.chainId) || !isAddressEqual(verifyingContract, args.deals)) {
      notDeals(`its signing domain is ${name} on chain ${chainId}`);
    }
  } catch (error) {
    if (error instanceof ChainError) throw error;
    if (unreachable(error)) throw toChainError(error, 'checkDealsContract');
    notDeals('the contract there does not answer as one');
  }
}
