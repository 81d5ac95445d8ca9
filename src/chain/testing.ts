/**
 * A deployed Lilypad on a fresh anvil, with helpers to make and sign offers, fund parties and move time:
 * what the chain tests, the property test and the gas benchmark share. Not used by the roles.
 */
import { createTestClient, encodeAbiParameters, http, keccak256, parseEther, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { acceptanceTypes, offerDomain, offerTypes, type SignedJobOfferTerms, type SignedResourceOfferTerms } from '../protocol/eip712.js';
import { mediatorSeedHashOf } from '../protocol/mediation.js';
import { jobOfferId, matchAcceptanceTypedData, resourceOfferId } from '../protocol/offers.js';
import { ANVIL_DEV_PRIVATE_KEYS, startAnvil, type AnvilInstance } from './anvil.js';
import { createLilypadPublicClient, createLilypadWalletClient, type ChainClients, type LilypadPublicClient } from './clients.js';
import { deployContracts } from './deploy.js';
import { fund } from './faucet.js';
import { lilypadDealsAbi, lilypadTokenAbi } from './generated/contracts.js';

export const LP = (n: number | bigint): bigint => BigInt(n) * 10n ** 18n;
export const FAR_FUTURE = 2n ** 40n - 1n;

export interface DealsKit {
  anvil: AnvilInstance;
  chainId: number;
  publicClient: LilypadPublicClient;
  deployer: ChainClients;
  token: Address;
  deals: Address;
  registry: Address;
  clientsFor(privateKey: Hex): ChainClients;
  /** ETH for gas, LP minted into the wallet, LP deposited into escrow by the faucet. */
  fundParty(account: Address, amounts: { eth?: bigint; lp?: bigint; escrow?: bigint }): Promise<void>;
  jobOffer(jobCreator: Address, overrides?: Partial<SignedJobOfferTerms>): SignedJobOfferTerms;
  resourceOffer(resourceProvider: Address, overrides?: Partial<SignedResourceOfferTerms>): SignedResourceOfferTerms;
  /** The seed behind a job offer made by `jobOffer` (derived from its nonce). */
  jobCreatorSeed(offer: SignedJobOfferTerms): Hex;
  signJobOffer(signer: ChainClients, offer: SignedJobOfferTerms): Promise<Hex>;
  signResourceOffer(signer: ChainClients, offer: SignedResourceOfferTerms): Promise<Hex>;
  signAcceptance(signer: ChainClients, dealId: Hex): Promise<Hex>;
  /** The job creator's acceptance of `resourceOffer` as the match for `jobOffer`. */
  signMatch(signer: ChainClients, jobOffer: SignedJobOfferTerms, resourceOffer: SignedResourceOfferTerms): Promise<Hex>;
  tokenBalance(account: Address): Promise<bigint>;
  freeEscrow(account: Address): Promise<bigint>;
  /** The latest block's timestamp. */
  now(): Promise<bigint>;
  /** Moves chain time forward and mines a block. */
  increaseTime(seconds: bigint | number): Promise<void>;
  snapshot(): Promise<Hex>;
  revert(id: Hex): Promise<void>;
  stop(): Promise<void>;
}

export async function startDealsKit(): Promise<DealsKit> {
  const anvil = await startAnvil();
  const chainId = anvil.chainId;
  const publicClient = createLilypadPublicClient({ rpcUrl: anvil.rpcUrl, chainId, pollingInterval: 20 });
  const clientsFor = (privateKey: Hex): ChainClients => ({
    publicClient,
    walletClient: createLilypadWalletClient({ rpcUrl: anvil.rpcUrl, chainId, privateKey, pollingInterval: 20 }),
  });
  const deployer = clientsFor(ANVIL_DEV_PRIVATE_KEYS[0]);
  const testClient = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
  const { token, deals, registry } = await deployContracts(deployer.walletClient, publicClient);
  const domain = offerDomain(chainId, deals);
  let nonce = 0n;
  const seedOf = (n: bigint): Hex => keccak256(encodeAbiParameters([{ type: 'string' }, { type: 'uint256' }], ['seed', n]));

  return {
    anvil,
    chainId,
    publicClient,
    deployer,
    token,
    deals,
    registry,
    clientsFor,
    async fundParty(account, amounts) {
      await fund({ ...deployer, token, deals, to: account, eth: amounts.eth, lp: amounts.lp, escrow: amounts.escrow });
    },
    jobOffer(jobCreator, overrides = {}) {
      const n = overrides.nonce ?? ++nonce;
      return {
        jobCreator,
        moduleId: `0x${'11'.repeat(32)}`,
        inputsHash: `0x${'22'.repeat(32)}`,
        detailsHash: `0x${'44'.repeat(32)}`,
        maxPrice: LP(2),
        minCollateral: 0n,
        mediators: [privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[4]).address],
        mediatorSeedHash: mediatorSeedHashOf(seedOf(n)),
        mediationFee: LP(1) / 10n,
        submitTimeout: 600n,
        judgeWindow: 300n,
        mediationTimeout: 900n,
        nonce: n,
        expiry: FAR_FUTURE,
        ...overrides,
      };
    },
    resourceOffer(resourceProvider, overrides = {}) {
      return {
        resourceProvider,
        price: LP(1),
        collateralMultiple: 2n,
        capacity: 1000n,
        mediators: [privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[4]).address],
        minSubmitTimeout: 60n,
        maxJudgeWindow: 3600n,
        maxMediationTimeout: 3600n,
        detailsHash: `0x${'33'.repeat(32)}`,
        nonce: ++nonce,
        expiry: FAR_FUTURE,
        ...overrides,
      };
    },
    jobCreatorSeed: (offer) => seedOf(offer.nonce),
    signJobOffer: (signer, offer) => signer.walletClient.signTypedData({ domain, types: offerTypes, primaryType: 'JobOffer', message: offer }),
    signResourceOffer: (signer, offer) =>
      signer.walletClient.signTypedData({ domain, types: offerTypes, primaryType: 'ResourceOffer', message: offer }),
    signAcceptance: (signer, dealId) =>
      signer.walletClient.signTypedData({ domain, types: acceptanceTypes, primaryType: 'ResultsAcceptance', message: { dealId } }),
    signMatch: (signer, jobOffer, resourceOffer) => {
      const offerDomainOfKit = { chainId, dealsAddress: deals };
      return signer.walletClient.signTypedData(
        matchAcceptanceTypedData(offerDomainOfKit, jobOfferId(offerDomainOfKit, jobOffer), resourceOfferId(offerDomainOfKit, resourceOffer)),
      );
    },
    tokenBalance: (account) => publicClient.readContract({ address: token, abi: lilypadTokenAbi, functionName: 'balanceOf', args: [account] }),
    freeEscrow: (account) => publicClient.readContract({ address: deals, abi: lilypadDealsAbi, functionName: 'escrowBalance', args: [account] }),
    async now() {
      return (await publicClient.getBlock()).timestamp;
    },
    async increaseTime(seconds) {
      await testClient.increaseTime({ seconds: Number(seconds) });
      await testClient.mine({ blocks: 1 });
    },
    snapshot: () => testClient.snapshot(),
    async revert(id) {
      await testClient.revert({ id });
    },
    stop: () => anvil.stop(),
  };
}

export { parseEther };
