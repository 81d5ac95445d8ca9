import type { Address } from 'viem';
import type { ChainClients } from '../clients.js';
import { lilypadRegistryAbi } from '../generated/contracts.js';
import { transact } from '../transact.js';
import type { DealWriteReturnType } from './deal-write.js';

export const serviceKinds = ['solver', 'mediator', 'resource-provider'] as const;
export type ServiceKind = (typeof serviceKinds)[number];

export interface RegisterServiceParameters {
  registry: Address;
  kind: ServiceKind;
  /** A solver's HTTP URL, or a URL or CID that describes a mediator or resource provider. */
  url: string;
}

/** Registers the sender as a service of `kind` (or updates its URL). */
export async function registerService(clients: ChainClients, args: RegisterServiceParameters): Promise<DealWriteReturnType> {
  const receipt = await transact(clients, 'register', () =>
    clients.walletClient.writeContract({
      address: args.registry,
      abi: lilypadRegistryAbi,
      functionName: 'register',
      args: [serviceKinds.indexOf(args.kind), args.url],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}

/** Removes the sender from the services of `kind`. @throws ChainError "unregister reverted: NotRegistered(…)". */
export async function unregisterService(
  clients: ChainClients,
  args: { registry: Address; kind: ServiceKind },
): Promise<DealWriteReturnType> {
  const receipt = await transact(clients, 'unregister', () =>
    clients.walletClient.writeContract({
      address: args.registry,
      abi: lilypadRegistryAbi,
      functionName: 'unregister',
      args: [serviceKinds.indexOf(args.kind)],
    }),
  );
  return { transactionHash: receipt.transactionHash, gasUsed: receipt.gasUsed };
}
