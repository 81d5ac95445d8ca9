import { parseEther, type Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptResults, agreeDeal, getDeal, submitResults, type ChainClients } from '../chain/index.js';
import { LP, startDealsKit, type DealsKit } from '../chain/testing.js';
import { silentLogger } from '../lib/logger.js';
import type { DealStage, StoredDeal } from './deal-store.js';
import { createSettler } from './settler.js';

let kit: DealsKit;
let jobCreator: ChainClients;
let provider: ChainClients;

beforeAll(async () => {
  kit = await startDealsKit();
  jobCreator = kit.clientsFor(generatePrivateKey());
  provider = kit.clientsFor(generatePrivateKey());
  await kit.fundParty(jobCreator.walletClient.account.address, { escrow: LP(100), eth: parseEther('1') });
  await kit.fundParty(provider.walletClient.account.address, { escrow: LP(100), eth: parseEther('1') });
});

afterAll(async () => {
  await kit?.stop();
});

/** A deal agreed between the two parties, with its results on chain. */
async function submittedDeal(): Promise<Hex> {
  const mediators = [jobCreator.walletClient.account.address];
  const jobOffer = kit.jobOffer(jobCreator.walletClient.account.address, { maxPrice: LP(2), mediationFee: LP(1), mediators });
  const resourceOffer = kit.resourceOffer(provider.walletClient.account.address, { price: LP(2), collateralMultiple: 1n, mediators });
  const { dealId } = await agreeDeal(provider, {
    deals: kit.deals,
    jobOffer,
    jobCreatorSignature: await kit.signJobOffer(jobCreator, jobOffer),
    resourceOffer,
    matchAcceptance: await kit.signMatch(jobCreator, jobOffer, resourceOffer),
  });
  await submitResults(provider, { deals: kit.deals, dealId, resultCid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi' });
  return dealId;
}

/** A settler over a deal store that knows only each deal's stage; `advanced` collects the deals handed back. */
function settler(batchSize: number, dealIds: Hex[]) {
  const stages = new Map<Hex, DealStage>(dealIds.map((id) => [id, 'submitted']));
  const advanced: Hex[] = [];
  const store = {
    get: (dealId: Hex) => (stages.has(dealId) ? ({ stage: stages.get(dealId) } as StoredDeal) : undefined),
    setStage: (dealId: Hex, stage: DealStage) => void stages.set(dealId, stage),
  };
  const settle = createSettler(
    // A delay longer than any test: only a full batch or flush() sends.
    { settleBatchSize: batchSize, settleDelayMs: 3_600_000 },
    {
      chain: provider,
      domain: { chainId: kit.chainId, dealsAddress: kit.deals },
      solver: { syncDeal: async () => undefined },
      store: () => store,
      logger: silentLogger,
      advance: async (dealId) => void advanced.push(dealId),
    },
  );
  return { settle, stages, advanced };
}

const transactionsOfProvider = () => kit.publicClient.getTransactionCount({ address: provider.walletClient.account.address });
const stateOf = async (dealId: Hex) => (await getDeal(kit.publicClient, { deals: kit.deals, dealId }))?.state;

describe('settler', () => {
  it('sends a full batch at once, in transactions of at most settleBatchSize deals; fewer wait for the delay or a flush', async () => {
    const dealIds = [await submittedDeal(), await submittedDeal(), await submittedDeal(), await submittedDeal()];
    const acceptances = await Promise.all(dealIds.map((dealId) => kit.signAcceptance(jobCreator, dealId)));
    const { settle, stages } = settler(2, dealIds);
    const before = await transactionsOfProvider();
    for (const i of [0, 1, 2]) settle.queue(dealIds[i]!, acceptances[i]);
    await settle.idle();
    expect(await transactionsOfProvider()).toBe(before + 2);
    expect(dealIds.map((id) => stages.get(id))).toEqual(['done', 'done', 'done', 'submitted']);

    settle.queue(dealIds[3]!, acceptances[3]);
    await settle.idle();
    expect(stages.get(dealIds[3]!)).toBe('submitted');
    await settle.flush();
    expect(await transactionsOfProvider()).toBe(before + 3);
    for (const dealId of dealIds) {
      expect(stages.get(dealId)).toBe('done');
      expect(await stateOf(dealId)).toBe('results-accepted');
    }
  });

  it('hands a deal the chain skipped (its job creator accepted it first) back to be moved on; does not queue a deal not submitted', async () => {
    const [accepted, settled] = [await submittedDeal(), await submittedDeal()];
    const { settle, stages, advanced } = settler(20, [accepted, settled]);
    await acceptResults(jobCreator, { deals: kit.deals, dealId: accepted });
    settle.queue(accepted, undefined);
    settle.queue(settled, await kit.signAcceptance(jobCreator, settled));
    settle.queue(`0x${'ab'.repeat(32)}`, undefined);
    await settle.flush();
    expect(advanced).toEqual([accepted]);
    expect(stages.get(settled)).toBe('done');
    expect(stages.get(accepted)).toBe('submitted');
  });
});
