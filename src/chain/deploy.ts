/** Deploys the LP token (owned by the deployer, who is then the faucet), the deals contract and the service registry. */
import type { Address, Hash } from 'viem';
import { ChainError } from '../lib/errors.js';
import type { ChainClients, LilypadPublicClient, LilypadWalletClient } from './clients.js';
import {
  lilypadDealsAbi,
  lilypadDealsBytecode,
  lilypadRegistryAbi,
  lilypadRegistryBytecode,
  lilypadTokenAbi,
  lilypadTokenBytecode,
} from './generated/contracts.js';
import { transact } from './transact.js';

export interface DeployedContracts {
  token: Address;
  deals: Address;
  registry: Address;
}

async function deployedAddress(
  clients: ChainClients,
  action: string,
  send: () => Promise<Hash>,
): Promise<Address> {
  const receipt = await transact(clients, action, send);
  if (!receipt.contractAddress) {
    throw new ChainError(`${action}: transaction ${receipt.transactionHash} created no contract`, { code: 'internal' });
  }
  return receipt.contractAddress;
}

export async function deployContracts(
  walletClient: LilypadWalletClient,
  publicClient: LilypadPublicClient,
): Promise<DeployedContracts> {
  const clients = { walletClient, publicClient };
  const token = await deployedAddress(clients, 'deploy LilypadToken', () =>
    walletClient.deployContract({
      abi: lilypadTokenAbi,
      bytecode: lilypadTokenBytecode,
      args: [walletClient.account.address],
    }),
  );
  const deals = await deployedAddress(clients, 'deploy LilypadDeals', () =>
    walletClient.deployContract({ abi: lilypadDealsAbi, bytecode: lilypadDealsBytecode, args: [token] }),
  );
  const registry = await deployedAddress(clients, 'deploy LilypadRegistry', () =>
    walletClient.deployContract({ abi: lilypadRegistryAbi, bytecode: lilypadRegistryBytecode }),
  );
  return { token, deals, registry };
}
