/**
 * The deal contract through the TypeScript actions, against a real anvil on 127.0.0.1: every path and
 * every timeout, with the exact wallet and escrow balance of every party after each step, and every bad
 * input reverting with its named custom error.
 */
import { hashTypedData, hexToSignature, parseEther, zeroAddress, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChainError } from '../lib/errors.js';
import { acceptanceTypes, offerDomain, offerTypes, type SignedJobOfferTerms, type SignedResourceOfferTerms } from '../protocol/eip712.js';
import { matchAcceptanceTypedData } from '../protocol/offers.js';
import { drawMediator, sharedMediatorsOf } from '../protocol/mediation.js';
import { ANVIL_DEV_PRIVATE_KEYS } from './anvil.js';
import type { ChainClients } from './clients.js';
import { toChainError } from './errors.js';
import { lilypadDealsAbi, lilypadTokenAbi } from './generated/contracts.js';
import { acceptResults } from './actions/accept-results.js';
import { agreeDeal } from './actions/agree-deal.js';
import { challengeResults } from './actions/challenge-results.js';
import { deposit } from './actions/deposit.js';
import { depositWithPermit, signEscrowPermit } from './actions/deposit-with-permit.js';
import { getDeal } from './actions/get-deal.js';
import { listServices } from './actions/list-services.js';
import { mediate } from './actions/mediate.js';
import { registerService, unregisterService } from './actions/register-service.js';
import { settleResults } from './actions/settle-results.js';
import { submitResults } from './actions/submit-results.js';
import { timeoutMediation } from './actions/timeout-mediation.js';
import { timeoutSubmitResults } from './actions/timeout-submit-results.js';
import { withdraw } from './actions/withdraw.js';
import { LP, startDealsKit, type DealsKit } from './testing.js';

const RESULT_CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
const PRICE = LP(10);
const COLLATERAL = LP(20); // price × 2
const FEE = LP(1);

let kit: DealsKit;
let solver: ChainClients;
const mediatorKeys = [ANVIL_DEV_PRIVATE_KEYS[4], ANVIL_DEV_PRIVATE_KEYS[5], ANVIL_DEV_PRIVATE_KEYS[6]];
const mediators = mediatorKeys.map((k) => privateKeyToAccount(k).address);

beforeAll(async () => {
  kit = await startDealsKit();
  solver = kit.clientsFor(ANVIL_DEV_PRIVATE_KEYS[3]);
});
afterAll(async () => {
  await kit?.stop();
});

async function revertOf(promise: Promise<unknown>): Promise<ChainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChainError);
  expect((error as ChainError).code).toBe('contract-reverted');
  return error as ChainError;
}

interface Parties {
  jobCreator: ChainClients;
  jc: Address;
  provider: ChainClients;
  rp: Address;
}

/** A job creator with 30 LP escrow (and ETH only when asked) and a provider with 50 LP escrow and ETH. */
async function freshParties(options: { jobCreatorEth?: boolean } = {}): Promise<Parties> {
  const jobCreator = kit.clientsFor(generatePrivateKey());
  const provider = kit.clientsFor(generatePrivateKey());
  const jc = jobCreator.walletClient.account.address;
  const rp = provider.walletClient.account.address;
  await kit.fundParty(jc, { escrow: LP(30), eth: options.jobCreatorEth ? parseEther('1') : undefined });
  await kit.fundParty(rp, { escrow: LP(50), eth: parseEther('1') });
  return { jobCreator, jc, provider, rp };
}

/** Every party's wallet LP and free escrow, the contract's LP, and the job creator's ETH. */
async function ledger(p: Parties) {
  const [jcWallet, jcEscrow, rpWallet, rpEscrow, contract, jcEth, ...mediatorEscrow] = await Promise.all([
    kit.tokenBalance(p.jc),
    kit.freeEscrow(p.jc),
    kit.tokenBalance(p.rp),
    kit.freeEscrow(p.rp),
    kit.tokenBalance(kit.deals),
    kit.publicClient.getBalance({ address: p.jc }),
    ...mediators.map((m) => kit.freeEscrow(m)),
  ]);
  return { jcWallet, jcEscrow, rpWallet, rpEscrow, contract, jcEth, mediatorEscrow };
}

async function agreeAsProvider(p: Parties, jobOverrides: Partial<SignedJobOfferTerms> = {}, resourceOverrides: Partial<SignedResourceOfferTerms> = {}) {
  const jobOffer = kit.jobOffer(p.jc, { maxPrice: LP(12), mediationFee: FEE, mediators, ...jobOverrides });
  const resourceOffer = kit.resourceOffer(p.rp, { price: PRICE, mediators, ...resourceOverrides });
  const agreed = await agreeDeal(p.provider, {
    deals: kit.deals,
    jobOffer,
    jobCreatorSignature: await kit.signJobOffer(p.jobCreator, jobOffer),
    resourceOffer,
    matchAcceptance: await kit.signMatch(p.jobCreator, jobOffer, resourceOffer),
  });
  return { ...agreed, jobOffer, resourceOffer };
}

/** `count` deals of 2 LP with collateral 2 LP, agreed and with results submitted. */
async function submittedDeals(p: Parties, count: number) {
  const made = [];
  for (let i = 0; i < count; i++) {
    const deal = await agreeAsProvider(p, {}, { price: LP(2), collateralMultiple: 1n });
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    made.push(deal);
  }
  return made;
}

async function challenge(p: Parties, deal: Awaited<ReturnType<typeof agreeAsProvider>>) {
  const onChain = await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId });
  return challengeResults(p.jobCreator, {
    deals: kit.deals,
    dealId: deal.dealId,
    jobCreatorSeed: kit.jobCreatorSeed(deal.jobOffer),
    candidates: sharedMediatorsOf(deal.jobOffer.mediators, deal.resourceOffer.mediators),
    providerSeed: onChain!.providerSeed,
  });
}

describe('EIP-712 hashes', () => {
  it('viem hashTypedData equals the contract’s hashJobOffer, hashResourceOffer and hashResultsAcceptance', async () => {
    const someone = privateKeyToAccount(generatePrivateKey()).address;
    const max = 2n ** 256n - 1n;
    const domain = offerDomain(kit.chainId, kit.deals);
    for (const list of [[], [mediators[0]!], mediators]) {
      const jobOffer = kit.jobOffer(someone, { mediators: list, maxPrice: max, expiry: max, judgeWindow: 7n, mediationFee: 5n });
      const resourceOffer = kit.resourceOffer(someone, { mediators: list, capacity: max, minSubmitTimeout: 9n });
      expect(await kit.publicClient.readContract({ address: kit.deals, abi: lilypadDealsAbi, functionName: 'hashJobOffer', args: [jobOffer] })).toBe(
        hashTypedData({ domain, types: offerTypes, primaryType: 'JobOffer', message: jobOffer }),
      );
      expect(
        await kit.publicClient.readContract({ address: kit.deals, abi: lilypadDealsAbi, functionName: 'hashResourceOffer', args: [resourceOffer] }),
      ).toBe(hashTypedData({ domain, types: offerTypes, primaryType: 'ResourceOffer', message: resourceOffer }));
    }
    const dealId = `0x${'ab'.repeat(32)}` as Hex;
    expect(
      await kit.publicClient.readContract({ address: kit.deals, abi: lilypadDealsAbi, functionName: 'hashResultsAcceptance', args: [dealId] }),
    ).toBe(hashTypedData({ domain, types: acceptanceTypes, primaryType: 'ResultsAcceptance', message: { dealId } }));
    const resourceOfferId = `0x${'cd'.repeat(32)}` as Hex;
    expect(
      await kit.publicClient.readContract({ address: kit.deals, abi: lilypadDealsAbi, functionName: 'hashMatchAcceptance', args: [dealId, resourceOfferId] }),
    ).toBe(hashTypedData(matchAcceptanceTypedData({ chainId: kit.chainId, dealsAddress: kit.deals }, dealId, resourceOfferId)));
  });
});

describe('every path of a deal, with every party’s balances', () => {
  it('happy path without gas for the job creator: provider agrees, submits, settles with the signed acceptance', async () => {
    const p = await freshParties();
    const start = await ledger(p);
    expect(start).toMatchObject({ jcWallet: 0n, jcEscrow: LP(30), rpWallet: 0n, rpEscrow: LP(50), jcEth: 0n });

    const deal = await agreeAsProvider(p);
    expect(deal).toMatchObject({ price: PRICE, collateral: COLLATERAL, mediatorCandidates: mediators });
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(20), rpEscrow: LP(30) });
    const agreed = await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId });
    expect(agreed).toMatchObject({
      state: 'agreed',
      jobCreator: p.jc,
      resourceProvider: p.rp,
      price: PRICE,
      collateral: COLLATERAL,
      mediationFee: FEE,
      deadline: (await kit.now()) + 600n,
      judgeWindow: 300n,
      resultCid: '',
      mediator: zeroAddress,
    });

    const submitted = await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    expect(await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId })).toMatchObject({
      state: 'results-submitted',
      resultCid: RESULT_CID,
      providerSeed: submitted.providerSeed,
      deadline: (await kit.now()) + 300n,
    });
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(20), rpEscrow: LP(30) });

    const acceptance = await kit.signAcceptance(p.jobCreator, deal.dealId);
    await settleResults(p.provider, { deals: kit.deals, settlements: [{ dealId: deal.dealId, acceptance }] });
    expect((await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId }))?.state).toBe('results-accepted');
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(20), rpEscrow: LP(60) });

    await withdraw(p.provider, { deals: kit.deals, amount: LP(60) });
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(20), rpEscrow: 0n, rpWallet: LP(60), contract: start.contract - LP(60) });
  });

  it('the job creator accepts itself', async () => {
    const p = await freshParties({ jobCreatorEth: true });
    const start = await ledger(p);
    const deal = await agreeAsProvider(p);
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    const { gasUsed } = await acceptResults(p.jobCreator, { deals: kit.deals, dealId: deal.dealId });
    const end = await ledger(p);
    expect(end.jcEth).toBeLessThan(start.jcEth);
    expect(gasUsed).toBeGreaterThan(0n);
    expect(end).toEqual({ ...start, jcEscrow: LP(20), rpEscrow: LP(60), jcEth: end.jcEth });
  });

  it('optimistic acceptance: anyone settles once the judge window has passed, not before', async () => {
    const p = await freshParties();
    const start = await ledger(p);
    const deal = await agreeAsProvider(p);
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    const early = await revertOf(settleResults(solver, { deals: kit.deals, settlements: [{ dealId: deal.dealId }] }));
    expect(early.message).toMatch(new RegExp(`^settleResults reverted: DeadlineNotPassed\\(dealId=${deal.dealId}, deadline=\\d+, currentTime=\\d+\\)$`));
    await kit.increaseTime(301);
    await settleResults(solver, { deals: kit.deals, settlements: [{ dealId: deal.dealId }] });
    expect((await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId }))?.state).toBe('results-accepted');
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(20), rpEscrow: LP(60) });
  });

  it('submit timeout: the job creator gets its price back and the provider’s collateral', async () => {
    const p = await freshParties();
    const start = await ledger(p);
    const deal = await agreeAsProvider(p);
    const early = await revertOf(timeoutSubmitResults(solver, { deals: kit.deals, dealId: deal.dealId }));
    expect(early.message).toMatch('timeoutSubmitResults reverted: DeadlineNotPassed(');
    await kit.increaseTime(601);
    const late = await revertOf(submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID }));
    expect(late.message).toMatch(`submitResults reverted: DeadlinePassed(dealId=${deal.dealId}`);
    await timeoutSubmitResults(solver, { deals: kit.deals, dealId: deal.dealId });
    expect((await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId }))?.state).toBe('submit-timed-out');
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(30) + COLLATERAL, rpEscrow: LP(30) });
  });

  for (const resultsCorrect of [true, false]) {
    it(`challenge, then the drawn mediator rules the results ${resultsCorrect ? 'right' : 'wrong'}`, async () => {
      const p = await freshParties({ jobCreatorEth: true });
      const start = await ledger(p);
      const deal = await agreeAsProvider(p);
      await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
      const { mediator } = await challenge(p, deal);
      const onChain = await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId });
      expect(mediator).toBe(drawMediator(kit.jobCreatorSeed(deal.jobOffer), onChain!.providerSeed, mediators));
      expect(onChain).toMatchObject({ state: 'results-checked', mediator, deadline: (await kit.now()) + 900n });
      const afterChallenge = await ledger(p);
      expect(afterChallenge).toEqual({ ...start, jcEscrow: LP(20) - FEE, rpEscrow: LP(30), jcEth: afterChallenge.jcEth });

      const index = mediators.indexOf(mediator);
      const wrongMediator = kit.clientsFor(mediatorKeys[(index + 1) % 3]!);
      const wrong = await revertOf(mediate(wrongMediator, { deals: kit.deals, dealId: deal.dealId, resultsCorrect }));
      expect(wrong.message).toBe(
        `mediate reverted: UnauthorizedCaller(dealId=${deal.dealId}, caller=${wrongMediator.walletClient.account.address}, required=${mediator})`,
      );
      await mediate(kit.clientsFor(mediatorKeys[index]!), { deals: kit.deals, dealId: deal.dealId, resultsCorrect });
      const end = await ledger(p);
      const mediatorEscrow = [...afterChallenge.mediatorEscrow];
      mediatorEscrow[index] = mediatorEscrow[index]! + FEE;
      expect(end).toEqual({
        ...afterChallenge,
        mediatorEscrow,
        ...(resultsCorrect ? { rpEscrow: LP(60) } : { jcEscrow: LP(20) - FEE + PRICE + COLLATERAL }),
      });
      expect((await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId }))?.state).toBe(
        resultsCorrect ? 'mediation-accepted' : 'mediation-rejected',
      );
    });
  }

  it('mediation timeout: price and fee back to the job creator, collateral back to the provider, nobody paid', async () => {
    const p = await freshParties({ jobCreatorEth: true });
    const start = await ledger(p);
    const deal = await agreeAsProvider(p);
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    const { mediator } = await challenge(p, deal);
    const early = await revertOf(timeoutMediation(solver, { deals: kit.deals, dealId: deal.dealId }));
    expect(early.message).toMatch('timeoutMediation reverted: DeadlineNotPassed(');
    await kit.increaseTime(901);
    const late = await revertOf(mediate(kit.clientsFor(mediatorKeys[mediators.indexOf(mediator)]!), { deals: kit.deals, dealId: deal.dealId, resultsCorrect: true }));
    expect(late.message).toMatch('mediate reverted: DeadlinePassed(');
    await timeoutMediation(solver, { deals: kit.deals, dealId: deal.dealId });
    const end = await ledger(p);
    expect(end).toEqual({ ...start, jcEth: end.jcEth });
    expect((await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId }))?.state).toBe('mediation-timed-out');
  });

  it('the agreeing timeout is the offers’ expiry: nothing is locked before agreement, and an expired offer never agrees', async () => {
    const p = await freshParties();
    const start = await ledger(p);
    const expiry = (await kit.now()) + 100n;
    const jobOffer = kit.jobOffer(p.jc, { expiry, mediators });
    const resourceOffer = kit.resourceOffer(p.rp, { mediators });
    const jobCreatorSignature = await kit.signJobOffer(p.jobCreator, jobOffer);
    expect(await ledger(p)).toEqual(start);
    await kit.increaseTime(101);
    const matchAcceptance = await kit.signMatch(p.jobCreator, jobOffer, resourceOffer);
    const error = await revertOf(agreeDeal(p.provider, { deals: kit.deals, jobOffer, jobCreatorSignature, resourceOffer, matchAcceptance }));
    expect(error.message).toMatch(new RegExp(`^agreeDeal reverted: OfferExpired\\(digest=0x[0-9a-f]{64}, expiry=${expiry}, currentTime=\\d+\\)$`));
    expect(await ledger(p)).toEqual(start);
  });

  it('nobody but the provider can agree its resource offer, not even with both signatures (no borrowed offers)', async () => {
    const p = await freshParties();
    const start = await ledger(p);
    const resourceOffer = kit.resourceOffer(p.rp, { price: PRICE, mediators });
    const jobOffer = kit.jobOffer(p.jc, { maxPrice: PRICE, mediators });
    const args = {
      deals: kit.deals,
      jobOffer,
      jobCreatorSignature: await kit.signJobOffer(p.jobCreator, jobOffer),
      resourceOffer,
      matchAcceptance: await kit.signMatch(p.jobCreator, jobOffer, resourceOffer),
    };
    // The job creator itself, holding the provider's signed offer, cannot make a deal the provider never heard of.
    const dealId = hashTypedData({ domain: offerDomain(kit.chainId, kit.deals), types: offerTypes, primaryType: 'JobOffer', message: jobOffer });
    for (const sender of [solver, p.jobCreator]) {
      await kit.fundParty(sender.walletClient.account.address, { eth: parseEther('1') });
      const error = await revertOf(agreeDeal(sender, args));
      expect(error.message).toBe(`agreeDeal reverted: UnauthorizedCaller(dealId=${dealId}, caller=${sender.walletClient.account.address}, required=${p.rp})`);
    }
    expect(await ledger(p)).toEqual({ ...start, jcEth: await kit.publicClient.getBalance({ address: p.jc }) });
  });

  it('front-running a signed job offer: a stranger with its own offer cannot agree it without the job creator’s acceptance of that match', async () => {
    const p = await freshParties();
    const attacker = kit.clientsFor(generatePrivateKey());
    const attackerAddress = attacker.walletClient.account.address;
    await kit.fundParty(attackerAddress, { escrow: LP(5), eth: parseEther('1') });
    const jobOffer = kit.jobOffer(p.jc, { maxPrice: LP(10), mediators, minCollateral: PRICE });
    const jobCreatorSignature = await kit.signJobOffer(p.jobCreator, jobOffer);
    const honest = kit.resourceOffer(p.rp, { price: PRICE, mediators });
    const honestAcceptance = await kit.signMatch(p.jobCreator, jobOffer, honest);
    const greedy = kit.resourceOffer(attackerAddress, { price: LP(10), collateralMultiple: 0n, mediators });
    const before = { jc: await kit.freeEscrow(p.jc), attacker: await kit.freeEscrow(attackerAddress) };
    // With the acceptance the job creator gave another offer, with none, and with a self-made one.
    for (const matchAcceptance of [honestAcceptance, '0x' as Hex, await kit.signMatch(attacker, jobOffer, greedy)]) {
      const error = await revertOf(agreeDeal(attacker, { deals: kit.deals, jobOffer, jobCreatorSignature, resourceOffer: greedy, matchAcceptance }));
      expect(error.message).toMatch(new RegExp(`^agreeDeal reverted: InvalidSignature\\(signer=${p.jc}, digest=0x[0-9a-f]{64}\\)$`));
    }
    // Even a job creator's acceptance of a zero-collateral offer binds nothing below its own least collateral.
    const careless = await kit.signMatch(p.jobCreator, jobOffer, greedy);
    const thin = await revertOf(agreeDeal(attacker, { deals: kit.deals, jobOffer, jobCreatorSignature, resourceOffer: greedy, matchAcceptance: careless }));
    expect(thin.message).toBe(`agreeDeal reverted: CollateralBelowMinimum(collateral=0, minCollateral=${PRICE})`);
    expect({ jc: await kit.freeEscrow(p.jc), attacker: await kit.freeEscrow(attackerAddress) }).toEqual(before);
    // The provider whose match was accepted still agrees it, at its own price.
    const agreed = await agreeDeal(p.provider, { deals: kit.deals, jobOffer, jobCreatorSignature, resourceOffer: honest, matchAcceptance: honestAcceptance });
    expect(agreed.price).toBe(PRICE);
  });

  it('settles many deals in one transaction, signed and optimistic mixed', async () => {
    const p = await freshParties();
    const start = await ledger(p);
    const made = await submittedDeals(p, 3);
    await kit.increaseTime(301);
    const signed = await kit.signAcceptance(p.jobCreator, made[1]!.dealId);
    const mismatch = await revertOf(
      kit.deployer.walletClient
        .writeContract({ address: kit.deals, abi: lilypadDealsAbi, functionName: 'settleResults', args: [[made[0]!.dealId], []] })
        .catch((e: unknown) => Promise.reject(toChainError(e, 'settleResults'))),
    );
    expect(mismatch.message).toBe('settleResults reverted: LengthMismatch(dealIds=1, acceptances=0)');
    await settleResults(p.provider, { deals: kit.deals, settlements: made.map((d, i) => ({ dealId: d.dealId, acceptance: i === 1 ? signed : undefined })) });
    expect(await ledger(p)).toEqual({ ...start, jcEscrow: LP(24), rpEscrow: LP(56) });
  });

  it('a job creator with LP but no gas funds its escrow by permit, relayed by someone else', async () => {
    const jobCreator = kit.clientsFor(generatePrivateKey());
    const jc = jobCreator.walletClient.account.address;
    await kit.fundParty(jc, { lp: LP(5) });
    const permit = await signEscrowPermit(jobCreator.walletClient, kit.publicClient, { token: kit.token, deals: kit.deals, amount: LP(4) });
    const contractBefore = await kit.tokenBalance(kit.deals);
    await depositWithPermit(solver, { deals: kit.deals, permit });
    expect(await kit.tokenBalance(jc)).toBe(LP(1));
    expect(await kit.freeEscrow(jc)).toBe(LP(4));
    expect(await kit.tokenBalance(kit.deals)).toBe(contractBefore + LP(4));
    expect(await kit.publicClient.getBalance({ address: jc })).toBe(0n);
    // The same permit again: it has funded a deposit already.
    const replay = await revertOf(depositWithPermit(solver, { deals: kit.deals, permit }));
    expect(replay.message).toBe(`depositWithPermit reverted: InvalidPermit(owner=${jc})`);
  });

  it('attack: a garbage permit cannot move a holder’s LP on an allowance it gave for something else', async () => {
    const holder = kit.clientsFor(generatePrivateKey());
    const victim = holder.walletClient.account.address;
    await kit.fundParty(victim, { lp: LP(5), eth: parseEther('1') });
    // The holder approved the deal contract for a later deposit of its own; a stranger tries to spend it.
    await holder.publicClient.waitForTransactionReceipt({
      hash: await holder.walletClient.writeContract({ address: kit.token, abi: lilypadTokenAbi, functionName: 'approve', args: [kit.deals, LP(5)] }),
    });
    const before = { wallet: await kit.tokenBalance(victim), escrow: await kit.freeEscrow(victim) };
    const garbage = { owner: victim, amount: LP(5), deadline: 2n ** 40n, signature: `0x${'11'.repeat(32)}${'22'.repeat(32)}1b` as Hex };
    const error = await revertOf(depositWithPermit(solver, { deals: kit.deals, permit: garbage }));
    expect(error.message).toBe(`depositWithPermit reverted: InvalidPermit(owner=${victim})`);
    // A real permit of another holder's, or one made out for another amount, is garbage here too.
    const other = kit.clientsFor(generatePrivateKey());
    const foreign = await signEscrowPermit(other.walletClient, kit.publicClient, { token: kit.token, deals: kit.deals, amount: LP(5) });
    expect((await revertOf(depositWithPermit(solver, { deals: kit.deals, permit: { ...foreign, owner: victim } }))).message).toBe(
      `depositWithPermit reverted: InvalidPermit(owner=${victim})`,
    );
    expect({ wallet: await kit.tokenBalance(victim), escrow: await kit.freeEscrow(victim) }).toEqual(before);
    expect(before).toEqual({ wallet: LP(5), escrow: 0n });
  });

  it('a permit front-run onto the token still funds the holder’s escrow, once', async () => {
    const holder = kit.clientsFor(generatePrivateKey());
    const jc = holder.walletClient.account.address;
    await kit.fundParty(jc, { lp: LP(5) });
    const permit = await signEscrowPermit(holder.walletClient, kit.publicClient, { token: kit.token, deals: kit.deals, amount: LP(4) });
    // A watcher puts the permit on the token itself, spending its nonce, before the relayed deposit lands.
    const { v, r, s: sigS } = hexToSignature(permit.signature);
    await solver.publicClient.waitForTransactionReceipt({
      hash: await solver.walletClient.writeContract({ address: kit.token, abi: lilypadTokenAbi, functionName: 'permit', args: [jc, kit.deals, LP(4), permit.deadline, Number(v), r, sigS] }),
    });
    await depositWithPermit(solver, { deals: kit.deals, permit });
    expect({ wallet: await kit.tokenBalance(jc), escrow: await kit.freeEscrow(jc) }).toEqual({ wallet: LP(1), escrow: LP(4) });
    // Once used, it cannot be used again, not even on a new allowance.
    await kit.fundParty(jc, { eth: parseEther('1'), lp: LP(4) });
    await holder.publicClient.waitForTransactionReceipt({
      hash: await holder.walletClient.writeContract({ address: kit.token, abi: lilypadTokenAbi, functionName: 'approve', args: [kit.deals, LP(4)] }),
    });
    const replay = await revertOf(depositWithPermit(solver, { deals: kit.deals, permit }));
    expect(replay.message).toBe(`depositWithPermit reverted: InvalidPermit(owner=${jc})`);
    expect({ wallet: await kit.tokenBalance(jc), escrow: await kit.freeEscrow(jc) }).toEqual({ wallet: LP(5), escrow: LP(4) });
  });

  it('attack: the job creator’s own acceptResults does not void the provider’s settlement batch', async () => {
    const p = await freshParties({ jobCreatorEth: true });
    const start = await ledger(p);
    const made = await submittedDeals(p, 3);
    const acceptances = await Promise.all(made.map((d) => kit.signAcceptance(p.jobCreator, d.dealId)));
    // The provider queued a batch of all three; the job creator accepts the middle one itself first.
    await acceptResults(p.jobCreator, { deals: kit.deals, dealId: made[1]!.dealId });
    const afterAccept = await ledger(p);
    const { settled } = await settleResults(p.provider, { deals: kit.deals, settlements: made.map((d, i) => ({ dealId: d.dealId, acceptance: acceptances[i] })) });
    expect(settled).toEqual([made[0]!.dealId, made[2]!.dealId]);
    const end = await ledger(p);
    // Each deal paid the provider price + collateral exactly once: 3 × 4 LP, 4 of them by the job creator's own acceptance.
    expect(afterAccept.rpEscrow - start.rpEscrow).toBe(LP(-6 + 4));
    expect(end).toEqual({ ...start, jcEscrow: start.jcEscrow - LP(6), rpEscrow: start.rpEscrow + LP(6), jcEth: afterAccept.jcEth });
    for (const d of made) expect((await getDeal(kit.publicClient, { deals: kit.deals, dealId: d.dealId }))!.state).toBe('results-accepted');
  });
});

describe('the mediator draw', () => {
  it('follows both seeds, rejects a wrong seed or candidate list, and spreads over the candidates', async () => {
    const p = await freshParties({ jobCreatorEth: true });
    const drawn = new Set<Address>();
    // The provider's seed is fresh each time, so draws go on until both mediators came up (six draws alone
    // gave one mediator only one run in 32); 24 leave a chance of 2^-23 of that.
    for (let i = 0; i < 24 && drawn.size < 2; i++) {
      const deal = await agreeAsProvider(p, { mediationFee: 0n }, { price: LP(1), collateralMultiple: 1n });
      await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
      const onChain = await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId });
      const base = { deals: kit.deals, dealId: deal.dealId, jobCreatorSeed: kit.jobCreatorSeed(deal.jobOffer), candidates: mediators, providerSeed: onChain!.providerSeed };
      if (i === 0) {
        for (const bad of [{ jobCreatorSeed: `0x${'00'.repeat(32)}` as Hex }, { candidates: [mediators[0]!] }, { providerSeed: `0x${'01'.repeat(32)}` as Hex }]) {
          const error = await revertOf(challengeResults(p.jobCreator, { ...base, ...bad }));
          expect(error.message).toBe(`challengeResults reverted: MediatorSeedMismatch(dealId=${deal.dealId})`);
        }
      }
      const { mediator } = await challengeResults(p.jobCreator, base);
      expect(mediator).toBe(drawMediator(base.jobCreatorSeed, base.providerSeed, mediators));
      drawn.add(mediator);
    }
    expect(drawn.size).toBeGreaterThan(1);
  });

  it('attack: a mediator listed many times gets no more weight in the draw', async () => {
    const p = await freshParties({ jobCreatorEth: true });
    // The job creator stuffs its list with mediator 0, hoping to be judged by it nearly always.
    const stuffed = [mediators[0]!, mediators[0]!, mediators[1]!, mediators[0]!, mediators[0]!, mediators[2]!, mediators[1]!];
    const deal = await agreeAsProvider(p, { mediators: stuffed, mediationFee: 0n }, { mediators: [mediators[2]!, mediators[0]!, mediators[1]!, mediators[0]!] });
    expect(deal.mediatorCandidates).toEqual([mediators[0], mediators[1], mediators[2]]);
    expect(sharedMediatorsOf(stuffed, [mediators[2]!, mediators[0]!, mediators[1]!, mediators[0]!])).toEqual(deal.mediatorCandidates);
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    // The challenge recomputes the candidates in TypeScript; the contract accepts them, and draws among three.
    const onChain = await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId });
    const { mediator } = await challenge(p, deal);
    expect(mediator).toBe(drawMediator(kit.jobCreatorSeed(deal.jobOffer), onChain!.providerSeed, [mediators[0]!, mediators[1]!, mediators[2]!]));
  });

  it('draws only from the mediators both offers list', async () => {
    const p = await freshParties({ jobCreatorEth: true });
    const deal = await agreeAsProvider(p, { mediators: [mediators[0]!, mediators[2]!] }, { mediators: [mediators[1]!, mediators[2]!] });
    expect(deal.mediatorCandidates).toEqual([mediators[2]]);
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    expect((await challenge(p, deal)).mediator).toBe(mediators[2]);
  });
});

describe('bad input reverts with a named error', () => {
  let p: Parties;
  beforeAll(async () => {
    p = await freshParties({ jobCreatorEth: true });
  });

  it('a replayed job offer, and a second agreement of the same offers', async () => {
    const deal = await agreeAsProvider(p);
    const before = await ledger(p);
    const again = await revertOf(
      agreeDeal(p.provider, {
        deals: kit.deals,
        jobOffer: deal.jobOffer,
        jobCreatorSignature: await kit.signJobOffer(p.jobCreator, deal.jobOffer),
        resourceOffer: deal.resourceOffer,
        matchAcceptance: await kit.signMatch(p.jobCreator, deal.jobOffer, deal.resourceOffer),
      }),
    );
    expect(again.message).toBe(`agreeDeal reverted: JobOfferAlreadyUsed(dealId=${deal.dealId})`);
    expect(await ledger(p)).toEqual(before);
  });

  it('a wrong signer, a forged signature, a match acceptance by someone else or for other terms', async () => {
    const jobOffer = kit.jobOffer(p.jc, { mediators });
    const resourceOffer = kit.resourceOffer(p.rp, { mediators });
    const matchAcceptance = await kit.signMatch(p.jobCreator, jobOffer, resourceOffer);
    const bySomeoneElse = await revertOf(
      agreeDeal(p.provider, { deals: kit.deals, jobOffer, jobCreatorSignature: await kit.signJobOffer(p.provider, jobOffer), resourceOffer, matchAcceptance }),
    );
    expect(bySomeoneElse.message).toMatch(new RegExp(`^agreeDeal reverted: InvalidSignature\\(signer=${p.jc}, digest=0x[0-9a-f]{64}\\)$`));
    const tampered = await revertOf(
      agreeDeal(p.provider, { deals: kit.deals, jobOffer: { ...jobOffer, maxPrice: LP(99) }, jobCreatorSignature: await kit.signJobOffer(p.jobCreator, jobOffer), resourceOffer, matchAcceptance }),
    );
    expect(tampered.message).toMatch(`InvalidSignature(signer=${p.jc}`);
    const jobCreatorSignature = await kit.signJobOffer(p.jobCreator, jobOffer);
    const acceptedByProvider = await revertOf(
      agreeDeal(p.provider, { deals: kit.deals, jobOffer, jobCreatorSignature, resourceOffer, matchAcceptance: await kit.signMatch(p.provider, jobOffer, resourceOffer) }),
    );
    expect(acceptedByProvider.message).toMatch(`InvalidSignature(signer=${p.jc}`);
    // The provider swaps in other terms of its own (a higher price) under the job creator's acceptance.
    const swapped = await revertOf(
      agreeDeal(p.provider, { deals: kit.deals, jobOffer, jobCreatorSignature, resourceOffer: { ...resourceOffer, price: resourceOffer.price + 1n }, matchAcceptance }),
    );
    expect(swapped.message).toMatch(`InvalidSignature(signer=${p.jc}`);
  });

  it('terms that do not fit', async () => {
    const cases: Array<[Partial<SignedJobOfferTerms>, Partial<SignedResourceOfferTerms>, string]> = [
      [{ maxPrice: LP(1) }, { price: LP(1) + 1n }, `PriceAboveMaximum(price=${LP(1) + 1n}, maxPrice=${LP(1)})`],
      [{ mediators: [mediators[0]!] }, { mediators: [mediators[1]!] }, 'NoSharedMediator()'],
      [{ submitTimeout: 59n }, { minSubmitTimeout: 60n }, 'SubmitTimeoutTooShort(submitTimeout=59, minSubmitTimeout=60)'],
      [{ judgeWindow: 3601n }, { maxJudgeWindow: 3600n }, 'JudgeWindowTooLong(judgeWindow=3601, maxJudgeWindow=3600)'],
      [{ mediationTimeout: 3601n }, { maxMediationTimeout: 3600n }, 'MediationTimeoutTooLong(mediationTimeout=3601, maxMediationTimeout=3600)'],
      [{ mediationTimeout: 2n ** 24n }, { maxMediationTimeout: 2n ** 256n - 1n }, `TimeoutOutOfRange(timeout=${2n ** 24n}, max=${2n ** 24n - 1n})`],
      [{ minCollateral: PRICE * 2n + 1n }, { price: PRICE, collateralMultiple: 2n }, `CollateralBelowMinimum(collateral=${PRICE * 2n}, minCollateral=${PRICE * 2n + 1n})`],
    ];
    for (const [jobOverrides, resourceOverrides, expected] of cases) {
      const error = await revertOf(agreeAsProvider(p, jobOverrides, resourceOverrides));
      expect(error.message).toBe(`agreeDeal reverted: ${expected}`);
    }
  });

  it('too little deposit or collateral, a withdrawal beyond the free escrow, a zero deposit', async () => {
    const jcFree = await kit.freeEscrow(p.jc);
    const poor = await revertOf(agreeAsProvider(p, { maxPrice: LP(1000) }, { price: jcFree + 1n, collateralMultiple: 0n }));
    expect(poor.message).toBe(`agreeDeal reverted: InsufficientEscrow(account=${p.jc}, needed=${jcFree + 1n}, available=${jcFree})`);
    const rpFree = await kit.freeEscrow(p.rp);
    const thin = await revertOf(agreeAsProvider(p, {}, { price: 1n, collateralMultiple: rpFree + 1n }));
    expect(thin.message).toBe(`agreeDeal reverted: InsufficientEscrow(account=${p.rp}, needed=${rpFree + 1n}, available=${rpFree})`);
    const over = await revertOf(withdraw(p.jobCreator, { deals: kit.deals, amount: jcFree + 1n }));
    expect(over.message).toBe(`withdraw reverted: InsufficientEscrow(account=${p.jc}, needed=${jcFree + 1n}, available=${jcFree})`);
    const zero = await revertOf(deposit(kit.deployer, { deals: kit.deals, token: kit.token, amount: 0n }));
    expect(zero.message).toBe('deposit reverted: ZeroAmount()');
  });

  it('a challenge without escrow for the mediation fee', async () => {
    const deal = await agreeAsProvider(p, { mediationFee: LP(1000) }, { price: LP(1) });
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    const free = await kit.freeEscrow(p.jc);
    const error = await revertOf(challenge(p, deal));
    expect(error.message).toBe(`challengeResults reverted: InsufficientEscrow(account=${p.jc}, needed=${LP(1000)}, available=${free})`);
  });

  it('calls by the wrong party, in the wrong state, or on no deal', async () => {
    const deal = await agreeAsProvider(p, {}, { price: LP(1) });
    const dealId = deal.dealId;
    const earlyAccept = await revertOf(acceptResults(p.jobCreator, { deals: kit.deals, dealId }));
    expect(earlyAccept.message).toBe(`acceptResults reverted: InvalidDealState(dealId=${dealId}, current=agreed, required=results-submitted)`);
    const bySomeone = await revertOf(submitResults(p.jobCreator, { deals: kit.deals, dealId, resultCid: RESULT_CID }));
    expect(bySomeone.message).toBe(`submitResults reverted: UnauthorizedCaller(dealId=${dealId}, caller=${p.jc}, required=${p.rp})`);
    const empty = await revertOf(submitResults(p.provider, { deals: kit.deals, dealId, resultCid: '' }));
    expect(empty.message).toBe(`submitResults reverted: EmptyResultCid(dealId=${dealId})`);
    const unknown = `0x${'cd'.repeat(32)}` as Hex;
    const missing = await revertOf(submitResults(p.provider, { deals: kit.deals, dealId: unknown, resultCid: RESULT_CID }));
    expect(missing.message).toBe(`submitResults reverted: DealNotFound(dealId=${unknown})`);
    expect(await getDeal(kit.publicClient, { deals: kit.deals, dealId: unknown })).toBeNull();

    await submitResults(p.provider, { deals: kit.deals, dealId, resultCid: RESULT_CID });
    const twice = await revertOf(submitResults(p.provider, { deals: kit.deals, dealId, resultCid: RESULT_CID }));
    expect(twice.message).toBe(`submitResults reverted: InvalidDealState(dealId=${dealId}, current=results-submitted, required=agreed)`);
    const providerAccepts = await revertOf(acceptResults(p.provider, { deals: kit.deals, dealId }));
    expect(providerAccepts.message).toBe(`acceptResults reverted: UnauthorizedCaller(dealId=${dealId}, caller=${p.rp}, required=${p.jc})`);
    const forged = await revertOf(settleResults(p.provider, { deals: kit.deals, settlements: [{ dealId, acceptance: await kit.signAcceptance(p.provider, dealId) }] }));
    expect(forged.message).toMatch(`settleResults reverted: InvalidSignature(signer=${p.jc}`);
    const onChain = await getDeal(kit.publicClient, { deals: kit.deals, dealId });
    const providerChallenges = await revertOf(
      challengeResults(p.provider, { deals: kit.deals, dealId, jobCreatorSeed: kit.jobCreatorSeed(deal.jobOffer), candidates: mediators, providerSeed: onChain!.providerSeed }),
    );
    expect(providerChallenges.message).toBe(`challengeResults reverted: UnauthorizedCaller(dealId=${dealId}, caller=${p.rp}, required=${p.jc})`);
    const notChecked = await revertOf(timeoutMediation(solver, { deals: kit.deals, dealId }));
    expect(notChecked.message).toBe(`timeoutMediation reverted: InvalidDealState(dealId=${dealId}, current=results-submitted, required=results-checked)`);
  });

  it('a challenge after the judge window', async () => {
    const deal = await agreeAsProvider(p, {}, { price: LP(1) });
    await submitResults(p.provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
    await kit.increaseTime(301);
    const error = await revertOf(challenge(p, deal));
    expect(error.message).toMatch(new RegExp(`^challengeResults reverted: DeadlinePassed\\(dealId=${deal.dealId}, deadline=\\d+, currentTime=\\d+\\)$`));
  });

  it('does not mix up transactions sent concurrently from one wallet', async () => {
    const results = await Promise.all([1, 2, 3].map(() => agreeAsProvider(p, {}, { price: 1n })));
    expect(new Set(results.map((r) => r.dealId)).size).toBe(3);
  });
});

describe('the service registry', () => {
  it('lists, updates and removes services, each by its own account', async () => {
    const a = kit.clientsFor(ANVIL_DEV_PRIVATE_KEYS[7]);
    const b = kit.clientsFor(ANVIL_DEV_PRIVATE_KEYS[8]);
    const registry = kit.registry;
    await registerService(a, { registry, kind: 'solver', url: 'http://127.0.0.1:8080' });
    await registerService(b, { registry, kind: 'solver', url: 'http://127.0.0.1:9090' });
    await registerService(b, { registry, kind: 'mediator', url: 'ipfs://bafymediator' });
    await registerService(a, { registry, kind: 'solver', url: 'http://127.0.0.1:8081' });
    expect(await listServices(kit.publicClient, { registry, kind: 'solver' })).toEqual([
      { account: a.walletClient.account.address, url: 'http://127.0.0.1:8081' },
      { account: b.walletClient.account.address, url: 'http://127.0.0.1:9090' },
    ]);
    await unregisterService(a, { registry, kind: 'solver' });
    expect(await listServices(kit.publicClient, { registry, kind: 'solver' })).toEqual([{ account: b.walletClient.account.address, url: 'http://127.0.0.1:9090' }]);
    expect(await listServices(kit.publicClient, { registry, kind: 'resource-provider' })).toEqual([]);
    const again = await revertOf(unregisterService(a, { registry, kind: 'solver' }));
    expect(again.message).toBe(`unregister reverted: NotRegistered(account=${a.walletClient.account.address}, kind=0)`);
    const empty = await revertOf(registerService(a, { registry, kind: 'mediator', url: '' }));
    expect(empty.message).toBe('register reverted: EmptyUrl()');
  });
});
