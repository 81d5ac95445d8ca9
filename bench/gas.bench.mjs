// Gas of every deal transaction on every path, measured on anvil with the built contracts (dist/), against
// the original Lilypad v2's happy path (1,472,348 gas: JC agree 673,243, RP agree 297,941, addResult
// 291,678, acceptResult 209,486).
import { parseEther } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import {
  ANVIL_DEV_PRIVATE_KEYS,
  acceptResults,
  agreeDeal,
  challengeResults,
  depositWithPermit,
  getDeal,
  mediate,
  settleResults,
  signEscrowPermit,
  submitResults,
  timeoutMediation,
  timeoutSubmitResults,
  withdraw,
} from '../dist/chain/index.js';
// The test kit is not shipped in dist/: `npm run build:bench` compiles it into bench/.build/.
import { LP, startDealsKit } from './.build/chain/testing.js';
import { sharedMediatorsOf } from '../dist/protocol/mediation.js';
import { writeResults } from './lib.mjs';

const ORIGINAL_HAPPY_PATH = 1_472_348;
const TARGET = 300_000;
const BATCH = 20;
const RESULT_CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';

const kit = await startDealsKit();
try {
  const jobCreator = kit.clientsFor(generatePrivateKey());
  const jc = jobCreator.walletClient.account.address;
  const provider = kit.clientsFor(generatePrivateKey());
  const rp = provider.walletClient.account.address;
  const solver = kit.clientsFor(ANVIL_DEV_PRIVATE_KEYS[3]);
  const mediatorKey = ANVIL_DEV_PRIVATE_KEYS[4];
  await kit.fundParty(jc, { escrow: LP(10_000), lp: LP(10) });
  await kit.fundParty(rp, { escrow: LP(100_000), eth: parseEther('10') });
  // The job creator needs ETH only to challenge; fund a second one for the challenge paths.
  const challenger = kit.clientsFor(generatePrivateKey());
  await kit.fundParty(challenger.walletClient.account.address, { escrow: LP(10_000), eth: parseEther('1') });

  // Only the provider agrees, with the job creator's offer and its acceptance of the match.
  const agree = async (creator = jobCreator) => {
    const jobOffer = kit.jobOffer(creator.walletClient.account.address);
    const resourceOffer = kit.resourceOffer(rp);
    const agreed = await agreeDeal(provider, {
      deals: kit.deals,
      jobOffer,
      jobCreatorSignature: await kit.signJobOffer(creator, jobOffer),
      resourceOffer,
      matchAcceptance: await kit.signMatch(creator, jobOffer, resourceOffer),
    });
    return { ...agreed, jobOffer, resourceOffer };
  };
  const submit = (deal) => submitResults(provider, { deals: kit.deals, dealId: deal.dealId, resultCid: RESULT_CID });
  const challenge = async (deal) => {
    const onChain = await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId });
    return challengeResults(challenger, {
      deals: kit.deals,
      dealId: deal.dealId,
      jobCreatorSeed: kit.jobCreatorSeed(deal.jobOffer),
      candidates: sharedMediatorsOf(deal.jobOffer.mediators, deal.resourceOffer.mediators),
      providerSeed: onChain.providerSeed,
    });
  };
  const gas = (receipt) => Number(receipt.gasUsed);

  // Warm-up: one whole deal, so that every account's escrow slot is in its steady (non-zero) state.
  {
    const deal = await agree();
    await submit(deal);
    await settleResults(provider, { deals: kit.deals, settlements: [{ dealId: deal.dealId, acceptance: await kit.signAcceptance(jobCreator, deal.dealId) }] });
  }

  const paths = {};
  const jcEthBefore = await kit.publicClient.getBalance({ address: jc });
  {
    const deal = await agree();
    const submitted = await submit(deal);
    const settled = await settleResults(provider, { deals: kit.deals, settlements: [{ dealId: deal.dealId, acceptance: await kit.signAcceptance(jobCreator, deal.dealId) }] });
    paths['happy: signed acceptance, settled by the provider'] = { agreeDeal: gas(deal), submitResults: gas(submitted), settleResults: gas(settled) };
  }
  {
    const deal = await agree();
    const submitted = await submit(deal);
    await kit.increaseTime(301);
    const settled = await settleResults(provider, { deals: kit.deals, settlements: [{ dealId: deal.dealId }] });
    paths['happy: optimistic acceptance after the judge window (judge timeout)'] = { agreeDeal: gas(deal), submitResults: gas(submitted), settleResults: gas(settled) };
  }
  const jobCreatorPaidGas = (await kit.publicClient.getBalance({ address: jc })) !== jcEthBefore || jcEthBefore !== 0n;
  {
    const deal = await agree(challenger);
    const submitted = await submit(deal);
    const accepted = await acceptResults(challenger, { deals: kit.deals, dealId: deal.dealId });
    paths['accepted by the job creator itself'] = { agreeDeal: gas(deal), submitResults: gas(submitted), 'acceptResults (job creator)': gas(accepted) };
  }
  for (const resultsCorrect of [true, false]) {
    const deal = await agree(challenger);
    const submitted = await submit(deal);
    const challenged = await challenge(deal);
    const ruled = await mediate(kit.clientsFor(mediatorKey), { deals: kit.deals, dealId: deal.dealId, resultsCorrect });
    paths[`challenge, mediator ${resultsCorrect ? 'accepts' : 'rejects'}`] = {
      agreeDeal: gas(deal),
      submitResults: gas(submitted),
      'challengeResults (job creator)': gas(challenged),
      mediate: gas(ruled),
    };
  }
  {
    const deal = await agree(challenger);
    const submitted = await submit(deal);
    const challenged = await challenge(deal);
    await kit.increaseTime(901);
    const timedOut = await timeoutMediation(solver, { deals: kit.deals, dealId: deal.dealId });
    paths['challenge, mediation timeout'] = { agreeDeal: gas(deal), submitResults: gas(submitted), 'challengeResults (job creator)': gas(challenged), timeoutMediation: gas(timedOut) };
  }
  {
    const deal = await agree();
    await kit.increaseTime(601);
    const timedOut = await timeoutSubmitResults(solver, { deals: kit.deals, dealId: deal.dealId });
    paths['submit timeout'] = { agreeDeal: gas(deal), timeoutSubmitResults: gas(timedOut) };
  }

  // 20 jobs, settled together in one transaction with their job creator's signed acceptances.
  const batch = [];
  let agreeGas = 0;
  let submitGas = 0;
  for (let i = 0; i < BATCH; i++) {
    const deal = await agree();
    agreeGas += gas(deal);
    submitGas += gas(await submit(deal));
    batch.push({ dealId: deal.dealId, acceptance: await kit.signAcceptance(jobCreator, deal.dealId) });
  }
  const batchSettle = gas(await settleResults(provider, { deals: kit.deals, settlements: batch }));

  const escrow = {};
  {
    const permit = await signEscrowPermit(jobCreator.walletClient, kit.publicClient, { token: kit.token, deals: kit.deals, amount: LP(5) });
    escrow['depositWithPermit (relayed)'] = gas(await depositWithPermit(solver, { deals: kit.deals, permit }));
    escrow.withdraw = gas(await withdraw(provider, { deals: kit.deals, amount: LP(1) }));
  }

  const totals = Object.fromEntries(Object.entries(paths).map(([name, txs]) => [name, Object.values(txs).reduce((a, b) => a + b, 0)]));
  const happy = totals['happy: signed acceptance, settled by the provider'];
  const amortised = Math.round((agreeGas + submitGas + batchSettle) / BATCH);
  const figures = {
    paths,
    totals,
    happyPathTotal: happy,
    happyPathPaidByJobCreator: jobCreatorPaidGas ? 'some' : 0,
    batchOf20: { agreeDealEach: Math.round(agreeGas / BATCH), submitResultsEach: Math.round(submitGas / BATCH), settleResultsAll: batchSettle, settlePerJob: Math.round(batchSettle / BATCH) },
    amortisedPerJobIn20: amortised,
    escrow,
    originalHappyPath: ORIGINAL_HAPPY_PATH,
    target: TARGET,
  };

  const fmt = (n) => n.toLocaleString('en-US');
  console.log('gas per deal transaction (anvil, LilypadDeals from dist/)');
  for (const [name, txs] of Object.entries(paths)) {
    console.log(`  ${name}: total ${fmt(totals[name])}`);
    for (const [tx, used] of Object.entries(txs)) console.log(`      ${tx.padEnd(34)} ${fmt(used).padStart(9)}`);
  }
  console.log(`  20 jobs settled together: agreeDeal ${fmt(figures.batchOf20.agreeDealEach)} + submitResults ${fmt(figures.batchOf20.submitResultsEach)} each, one settleResults ${fmt(batchSettle)} (${fmt(figures.batchOf20.settlePerJob)} a job)`);
  console.log(`  escrow: ${Object.entries(escrow).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
  console.log(`  happy path per job ${fmt(happy)} gas (job creator pays ${figures.happyPathPaidByJobCreator}); amortised over 20 settled together ${fmt(amortised)}`);
  console.log(`  original happy path ${fmt(ORIGINAL_HAPPY_PATH)}: ${(ORIGINAL_HAPPY_PATH / happy).toFixed(1)}x less; target ≤ ${fmt(TARGET)}: ${happy <= TARGET && !jobCreatorPaidGas ? 'met' : 'NOT met'}`);
  console.log('  written to', writeResults('gas', figures));
} finally {
  await kit.stop();
}
