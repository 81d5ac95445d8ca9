/** Deploys the LP token (owned by the deployer, who is then the faucet), the deals contract and the service registry. */
import type { Address, Hash } from 'viem';
import { ChainError } from '../lib/errors.js';
import type { ChainClients, LilypadPublicClient, LilypadWalletClient } from './clients.js';
import {
  lilypadDealsAbi,
  lilypadDealsBytecode,
  lilypadOnChainJobCreatorAbi,
  lilypadOnChainJobCreatorBytecode,
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

export interface DeployOnChainJobCreatorParameters {
  deals: Address;
  /** The bridge's address: it signs for the contract and delivers results. */
  operator: Address;
  /** LP (wei) per job paid in LP. */
  priceLp: bigint;
  /** Chain coin (wei) per job paid in it. */
  priceCoin: bigint;
  /** Seconds after which a job whose offer was never agreed may be refunded (at most 30 days). */
  jobTimeout: bigint;
}

/** Deploys the on-chain job creator for contracts that ask for jobs (owned by the deployer). */
export async function deployOnChainJobCreator(clients: ChainClients, args: DeployOnChainJobCreatorParameters): Promise<Address> {
  return deployedAddress(clients, 'deploy LilypadOnChainJobCreator', () =>
    clients.walletClient.deployContract({
      abi: lilypadOnChainJobCreatorAbi,
      bytecode: lilypadOnChainJobCreatorBytecode,
      args: [args.deals, args.operator, args.priceLp, args.priceCoin, args.jobTimeout],
    }),
  );
}
