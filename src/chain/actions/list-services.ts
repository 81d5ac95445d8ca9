import type { Address } from 'viem';
import type { LilypadPublicClient } from '../clients.js';
import { toChainError } from '../errors.js';
import { lilypadRegistryAbi } from '../generated/contracts.js';
import { serviceKinds, type ServiceKind } from './register-service.js';

export interface ListServicesParameters {
  registry: Address;
  kind: ServiceKind;
}

export interface RegisteredService {
  account: Address;
  url: string;
}

/** Every registered service of a kind, with its URL. */
export async function listServices(client: LilypadPublicClient, args: ListServicesParameters): Promise<RegisteredService[]> {
  try {
    const [accounts, urls] = await client.readContract({
      address: args.registry,
      abi: lilypadRegistryAbi,
      functionName: 'services',
      args: [serviceKinds.indexOf(args.kind)],
    });
    return accounts.map((account, i) => ({ account, url: urls[i]! }));
  } catch (error) {
    throw toChainError(error, 'listServices');
  }
}
