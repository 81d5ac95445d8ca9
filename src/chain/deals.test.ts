/**
 * The deal contract through the TypeScript actions, against a real anvil on 127.0.0.1.
 */
import { hashTypedData, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainError } from '../lib/errors.js';
import {
  offerDomain,
  offerTypes,
  type SignedJobOfferTerms,
  type SignedResourceOfferTerms,
} from '../protocol/eip712.js';
import { ANVIL_DEV_PRIVATE_KEYS, startAnvil, type AnvilInstance } from './anvil.js';
import { createLilypadPublicClient, createLilypadWalletClient, type ChainClients, type LilypadPublicClient } from './clients.js';
import { deployContracts } from './deploy.js';
import { fund } from './faucet.js';
import { lilypadDealsAbi, lilypadTokenAbi } from './generated/contracts.js';
import { acceptResults } from './actions/accept-results.js';
import { agreeDeal } from './actions/agree-deal.js';
import { deposit } from './actions/deposit.js';
import { escrowBalance } from './actions/escrow-balance.js';
import { getDeal } from './actions/get-deal.js';
import { submitResults } from './actions/submit-results.js';
import { withdraw } from './actions/withdraw.js';

const LP = (n: number | bigint) => BigInt(n) * 10n ** 18n;
const RESULT_CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';

let anvil: AnvilInstance;
let chainId: number;
let publicClient: LilypadPublicClient;
let deployer: ChainClients;
let token: Address;
let deals: Address;
let solver: ChainClients;
const mediator = privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[4]).address;
const otherMediator = privateKeyToAccount(ANVIL_DEV_PRIVATE_KEYS[5]).address;
let nonce = 0n;

function clientsFor(privateKey: Hex): ChainClients {
  return { publicClient, walletClient: createLilypadWalletClient({ rpcUrl: anvil.rpcUrl, chainId, privateKey }) };
}

async function now(): Promise<bigint> {
  return (await publicClient.getBlock()).timestamp;
}

function jobOfferFor(jobCreator: Address, overrides: Partial<SignedJobOfferTerms> = {}): SignedJobOfferTerms {
  return {
    jobCreator,
    moduleId: `0x${'11'.repeat(32)}`,
    inputsHash: `0x${'22'.repeat(32)}`,
    maxPrice: LP(2),
    mediators: [mediator],
    nonce: ++nonce,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    ...overrides,
  };
}

function resourceOfferFor(
  resourceProvider: Address,
  overrides: Partial<SignedResourceOfferTerms> = {},
): SignedResourceOfferTerms {
  return {
    resourceProvider,
    price: LP(1),
    collateralMultiple: 2n,
    capacity: 10n,
    mediators: [otherMediator, mediator],
    detailsHash: `0x${'33'.repeat(32)}`,
    nonce: ++nonce,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
    ...overrides,
  };
}

function signJobOffer(signer: ChainClients, offer: SignedJobOfferTerms): Promise<Hex> {
  return signer.walletClient.signTypedData({
    domain: offerDomain(chainId, deals),
    types: offerTypes,
    primaryType: 'JobOffer',
    message: offer,
  });
}

function signResourceOffer(signer: ChainClients, offer: SignedResourceOfferTerms): Promise<Hex> {
  return signer.walletClient.signTypedData({
    domain: offerDomain(chainId, deals),
    types: offerTypes,
    primaryType: 'ResourceOffer',
    message: offer,
  });
}

async function tokenBalance(account: Address): Promise<bigint> {
  return publicClient.readContract({ address: token, abi: lilypadTokenAbi, functionName: 'balanceOf', args: [account] });
}

async function revertOf(promise: Promise<unknown>): Promise<ChainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChainError);
  expect((error as ChainError).code).toBe('contract-reverted');
  return error as ChainError;
}

beforeAll(async () => {
  anvil = await startAnvil();
  chainId = anvil.chainId;
  publicClient = createLilypadPublicClient({ rpcUrl: anvil.rpcUrl, chainId });
  deployer = clientsFor(ANVIL_DEV_PRIVATE_KEYS[0]);
  solver = clientsFor(ANVIL_DEV_PRIVATE_KEYS[3]);
  ({ token, deals } = await deployContracts(deployer.walletClient, publicClient));
});

afterAll(async () => {
  await anvil?.stop();
});

describe('EIP-712 hashes', () => {
  it('viem hashTypedData equals the contract’s hashJobOffer and hashResourceOffer', async () => {
    const someone = privateKeyToAccount(generatePrivateKey()).address;
    const max = 2n ** 256n - 1n;
    const mediatorLists: Address[][] = [[], [mediator], [mediator, otherMediator, someone]];
    for (const mediators of mediatorLists) {
      const jobOffer = jobOfferFor(someone, { mediators, maxPrice: max, expiry: max });
      const resourceOffer = resourceOfferFor(someone, { mediators, capacity: max });
      const domain = offerDomain(chainId, deals);
      expect(
        await publicClient.readContract({ address: deals, abi: lilypadDealsAbi, functionName: 'hashJobOffer', args: [jobOffer] }),
      ).toBe(hashTypedData({ domain, types: offerTypes, primaryType: 'JobOffer', message: jobOffer }));
      expect(
        await publicClient.readContract({
          address: deals,
          abi: lilypadDealsAbi,
          functionName: 'hashResourceOffer',
          args: [resourceOffer],
        }),
      ).toBe(hashTypedData({ domain, types: offerTypes, primaryType: 'ResourceOffer', message: resourceOffer }));
    }
  });
});

describe('a deal from agreement to accepted results', () => {
  it('moves exactly the price and the collateral, and the job creator pays no gas to agree', async () => {
    // A job creator with a fresh key; the faucet gives it escrow and a little ETH for acceptResults.
    const jobCreator = clientsFor(generatePrivateKey());
    const jc = jobCreator.walletClient.account.address;
    const resourceProvider = clientsFor(ANVIL_DEV_PRIVATE_KEYS[2]);
    const rp = resourceProvider.walletClient.account.address;
    const state = async () => ({
      jcWallet: await tokenBalance(jc),
      jcEscrow: await escrowBalance(publicClient, { deals, account: jc }),
      rpWallet: await tokenBalance(rp),
      rpEscrow: await escrowBalance(publicClient, { deals, account: rp }),
      contract: await tokenBalance(deals),
    });

    await fund({ ...deployer, token, deals, to: jc, eth: parseEther('1'), escrow: LP(15) });
    await fund({ ...deployer, token, deals, to: rp, lp: LP(50) });
    await deposit(resourceProvider, { deals, token, amount: LP(30) });
    expect(await state()).toEqual({
      jcWallet: 0n,
      jcEscrow: { free: LP(15), locked: 0n },
      rpWallet: LP(20),
      rpEscrow: { free: LP(30), locked: 0n },
      contract: LP(45),
    });

    const jobOffer = jobOfferFor(jc, { maxPrice: LP(12) });
    const resourceOffer = resourceOfferFor(rp, { price: LP(10), collateralMultiple: 2n });
    const jcEthBefore = await publicClient.getBalance({ address: jc });
    const agreed = await agreeDeal(solver, {
      deals,
      jobOffer,
      jobCreatorSignature: await signJobOffer(jobCreator, jobOffer),
      resourceOffer,
      resourceProviderSignature: await signResourceOffer(resourceProvider, resourceOffer),
      mediator,
    });
    expect(agreed.dealId).toBe(
      hashTypedData({ domain: offerDomain(chainId, deals), types: offerTypes, primaryType: 'JobOffer', message: jobOffer }),
    );
    expect(agreed.price).toBe(LP(10));
    expect(agreed.collateral).toBe(LP(20));
    expect(await publicClient.getBalance({ address: jc })).toBe(jcEthBefore);
    expect(await state()).toEqual({
      jcWallet: 0n,
      jcEscrow: { free: LP(5), locked: LP(10) },
      rpWallet: LP(20),
      rpEscrow: { free: LP(10), locked: LP(20) },
      contract: LP(45),
    });
    const agreedBlock = await publicClient.getBlock();
    expect(await getDeal(publicClient, { deals, dealId: agreed.dealId })).toEqual({
      dealId: agreed.dealId,
      jobCreator: jc,
      resourceProvider: rp,
      mediator,
      price: LP(10),
      collateral: LP(20),
      state: 'agreed',
      agreedAt: agreedBlock.timestamp,
      resultCid: '',
    });
    expect(
      await publicClient.readContract({ address: deals, abi: lilypadDealsAbi, functionName: 'jobOfferUsed', args: [agreed.dealId] }),
    ).toBe(true);

    await submitResults(resourceProvider, { deals, dealId: agreed.dealId, resultCid: RESULT_CID });
    expect(await getDeal(publicClient, { deals, dealId: agreed.dealId })).toMatchObject({
      state: 'results-submitted',
      resultCid: RESULT_CID,
    });
    expect(await state()).toEqual({
      jcWallet: 0n,
      jcEscrow: { free: LP(5), locked: LP(10) },
      rpWallet: LP(20),
      rpEscrow: { free: LP(10), locked: LP(20) },
      contract: LP(45),
    });

    await acceptResults(jobCreator, { deals, dealId: agreed.dealId });
    expect((await getDeal(publicClient, { deals, dealId: agreed.dealId }))?.state).toBe('results-accepted');
    expect(await state()).toEqual({
      jcWallet: 0n,
      jcEscrow: { free: LP(5), locked: 0n },
      rpWallet: LP(20),
      rpEscrow: { free: LP(40), locked: 0n },
      contract: LP(45),
    });

    await withdraw(resourceProvider, { deals, amount: LP(40) });
    await withdraw(jobCreator, { deals, amount: LP(5) });
    expect(await state()).toEqual({
      jcWallet: LP(5),
      jcEscrow: { free: 0n, locked: 0n },
      rpWallet: LP(60),
      rpEscrow: { free: 0n, locked: 0n },
      contract: 0n,
    });
  });

  it('returns null for a deal that does not exist', async () => {
    expect(await getDeal(publicClient, { deals, dealId: `0x${'ab'.repeat(32)}` })).toBeNull();
  });
});

describe('reverts', () => {
  let jobCreator: ChainClients;
  let jc: Address;
  let resourceProvider: ChainClients;
  let rp: Address;

  /** Signs both offers with the right keys unless told otherwise, and agrees them. */
  async function agree(
    jobOffer: SignedJobOfferTerms,
    resourceOffer: SignedResourceOfferTerms,
    options: { jobCreatorSignature?: Hex; resourceProviderSignature?: Hex; mediator?: Address } = {},
  ) {
    return agreeDeal(solver, {
      deals,
      jobOffer,
      jobCreatorSignature: options.jobCreatorSignature ?? (await signJobOffer(jobCreator, jobOffer)),
      resourceOffer,
      resourceProviderSignature: options.resourceProviderSignature ?? (await signResourceOffer(resourceProvider, resourceOffer)),
      mediator: options.mediator ?? mediator,
    });
  }

  beforeAll(async () => {
    jobCreator = clientsFor(generatePrivateKey());
    jc = jobCreator.walletClient.account.address;
    resourceProvider = clientsFor(ANVIL_DEV_PRIVATE_KEYS[6]);
    rp = resourceProvider.walletClient.account.address;
    await fund({ ...deployer, token, deals, to: jc, eth: parseEther('1'), escrow: LP(100) });
    await fund({ ...deployer, token, deals, to: rp, escrow: LP(100) });
  });

  it('rejects a signature that is not a signature of the offer', async () => {
    const jobOffer = jobOfferFor(jc);
    const resourceOffer = resourceOfferFor(rp);
    const signedOther = await signJobOffer(jobCreator, { ...jobOffer, maxPrice: LP(99) });
    const error = await revertOf(agree(jobOffer, resourceOffer, { jobCreatorSignature: signedOther }));
    expect(error.message).toMatch(new RegExp(`^agreeDeal reverted: InvalidSignature\\(signer=${jc}, digest=0x[0-9a-f]{64}\\)$`));
    expect(error.details).toMatchObject({ errorName: 'InvalidSignature' });

    const garbage = `0x${'5a'.repeat(65)}` as Hex;
    const error2 = await revertOf(agree(jobOffer, resourceOffer, { resourceProviderSignature: garbage }));
    expect(error2.message).toMatch(`InvalidSignature(signer=${rp}`);
  });

  it('rejects an offer signed by the wrong account', async () => {
    const jobOffer = jobOfferFor(jc);
    const resourceOffer = resourceOfferFor(rp);
    const error = await revertOf(
      agree(jobOffer, resourceOffer, { jobCreatorSignature: await signJobOffer(resourceProvider, jobOffer) }),
    );
    expect(error.message).toMatch(`agreeDeal reverted: InvalidSignature(signer=${jc}`);
    const error2 = await revertOf(
      agree(jobOffer, resourceOffer, { resourceProviderSignature: await signResourceOffer(jobCreator, resourceOffer) }),
    );
    expect(error2.message).toMatch(`agreeDeal reverted: InvalidSignature(signer=${rp}`);
  });

  it('rejects an expired job offer and an expired resource offer', async () => {
    const past = (await now()) - 1n;
    const jobOffer = jobOfferFor(jc, { expiry: past });
    const error = await revertOf(agree(jobOffer, resourceOfferFor(rp)));
    expect(error.message).toMatch(new RegExp(`^agreeDeal reverted: OfferExpired\\(digest=0x[0-9a-f]{64}, expiry=${past}, currentTime=\\d+\\)$`));
    const error2 = await revertOf(agree(jobOfferFor(jc), resourceOfferFor(rp, { expiry: past })));
    expect(error2.message).toMatch(`OfferExpired(`);
    expect(error2.message).toMatch(`expiry=${past}`);
  });

  it('rejects a replayed job offer', async () => {
    const jobOffer = jobOfferFor(jc);
    const { dealId } = await agree(jobOffer, resourceOfferFor(rp));
    const before = await escrowBalance(publicClient, { deals, account: jc });
    const error = await revertOf(agree(jobOffer, resourceOfferFor(rp)));
    expect(error.message).toBe(`agreeDeal reverted: JobOfferAlreadyUsed(dealId=${dealId})`);
    expect(await escrowBalance(publicClient, { deals, account: jc })).toEqual(before);
  });

  it('rejects a resource offer whose capacity is used up', async () => {
    const resourceOffer = resourceOfferFor(rp, { capacity: 2n });
    await agree(jobOfferFor(jc), resourceOffer);
    await agree(jobOfferFor(jc), resourceOffer);
    const digest = hashTypedData({
      domain: offerDomain(chainId, deals),
      types: offerTypes,
      primaryType: 'ResourceOffer',
      message: resourceOffer,
    });
    expect(
      await publicClient.readContract({ address: deals, abi: lilypadDealsAbi, functionName: 'resourceOfferUses', args: [digest] }),
    ).toBe(2n);
    const error = await revertOf(agree(jobOfferFor(jc), resourceOffer));
    expect(error.message).toBe(`agreeDeal reverted: ResourceOfferCapacityExhausted(digest=${digest}, capacity=2)`);
  });

  it('rejects a price above the job creator’s maximum', async () => {
    const error = await revertOf(agree(jobOfferFor(jc, { maxPrice: LP(1) }), resourceOfferFor(rp, { price: LP(1) + 1n })));
    expect(error.message).toBe(`agreeDeal reverted: PriceAboveMaximum(price=${LP(1) + 1n}, maxPrice=${LP(1)})`);
  });

  it('rejects a mediator that is not in both lists', async () => {
    const error = await revertOf(
      agree(jobOfferFor(jc, { mediators: [mediator] }), resourceOfferFor(rp, { mediators: [otherMediator] }), { mediator }),
    );
    expect(error.message).toBe(`agreeDeal reverted: MediatorNotShared(mediator=${mediator})`);
    const error2 = await revertOf(
      agree(jobOfferFor(jc, { mediators: [mediator] }), resourceOfferFor(rp, { mediators: [otherMediator] }), {
        mediator: otherMediator,
      }),
    );
    expect(error2.message).toBe(`agreeDeal reverted: MediatorNotShared(mediator=${otherMediator})`);
  });

  it('rejects a deal when either side lacks free escrow', async () => {
    const jcFree = (await escrowBalance(publicClient, { deals, account: jc })).free;
    const error = await revertOf(
      agree(jobOfferFor(jc, { maxPrice: LP(1000) }), resourceOfferFor(rp, { price: jcFree + 1n, collateralMultiple: 0n })),
    );
    expect(error.message).toBe(`agreeDeal reverted: InsufficientEscrow(account=${jc}, needed=${jcFree + 1n}, available=${jcFree})`);

    const rpFree = (await escrowBalance(publicClient, { deals, account: rp })).free;
    const error2 = await revertOf(agree(jobOfferFor(jc), resourceOfferFor(rp, { price: 1n, collateralMultiple: rpFree + 1n })));
    expect(error2.message).toBe(`agreeDeal reverted: InsufficientEscrow(account=${rp}, needed=${rpFree + 1n}, available=${rpFree})`);
  });

  it('rejects a withdrawal beyond the free escrow, and a zero deposit', async () => {
    const { free, locked } = await escrowBalance(publicClient, { deals, account: jc });
    expect(locked).toBeGreaterThan(0n);
    const error = await revertOf(withdraw(jobCreator, { deals, amount: free + 1n }));
    expect(error.message).toBe(`withdraw reverted: InsufficientEscrow(account=${jc}, needed=${free + 1n}, available=${free})`);
    const error2 = await revertOf(deposit(deployer, { deals, token, amount: 0n }));
    expect(error2.message).toBe('deposit reverted: ZeroAmount()');
  });

  it('lets only the resource provider submit, only once, and only for an agreed deal', async () => {
    const { dealId } = await agree(jobOfferFor(jc), resourceOfferFor(rp));
    const wrongCaller = await revertOf(submitResults(jobCreator, { deals, dealId, resultCid: RESULT_CID }));
    expect(wrongCaller.message).toBe(`submitResults reverted: UnauthorizedCaller(dealId=${dealId}, caller=${jc}, required=${rp})`);

    const empty = await revertOf(submitResults(resourceProvider, { deals, dealId, resultCid: '' }));
    expect(empty.message).toBe(`submitResults reverted: EmptyResultCid(dealId=${dealId})`);

    const unknown = `0x${'cd'.repeat(32)}` as Hex;
    const missing = await revertOf(submitResults(resourceProvider, { deals, dealId: unknown, resultCid: RESULT_CID }));
    expect(missing.message).toBe(`submitResults reverted: DealNotFound(dealId=${unknown})`);

    await submitResults(resourceProvider, { deals, dealId, resultCid: RESULT_CID });
    const twice = await revertOf(submitResults(resourceProvider, { deals, dealId, resultCid: RESULT_CID }));
    expect(twice.message).toBe(
      `submitResults reverted: InvalidDealState(dealId=${dealId}, current=results-submitted, required=agreed)`,
    );
  });

  it('lets only the job creator accept, and only submitted results', async () => {
    const { dealId } = await agree(jobOfferFor(jc), resourceOfferFor(rp));
    const early = await revertOf(acceptResults(jobCreator, { deals, dealId }));
    expect(early.message).toBe(
      `acceptResults reverted: InvalidDealState(dealId=${dealId}, current=agreed, required=results-submitted)`,
    );
    await submitResults(resourceProvider, { deals, dealId, resultCid: RESULT_CID });
    const wrongCaller = await revertOf(acceptResults(resourceProvider, { deals, dealId }));
    expect(wrongCaller.message).toBe(`acceptResults reverted: UnauthorizedCaller(dealId=${dealId}, caller=${rp}, required=${jc})`);
    await acceptResults(jobCreator, { deals, dealId });
    const twice = await revertOf(acceptResults(jobCreator, { deals, dealId }));
    expect(twice.message).toMatch('current=results-accepted');
  });

  it('does not mix up transactions sent concurrently from one wallet', async () => {
    const results = await Promise.all(
      [1n, 2n, 3n].map(async () => agree(jobOfferFor(jc), resourceOfferFor(rp))),
    );
    expect(new Set(results.map((r) => r.dealId)).size).toBe(3);
  });
});
