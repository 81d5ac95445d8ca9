import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Hono } from 'hono';
import { createPublicClient, custom, type Hex } from 'viem';
import { foundry } from 'viem/chains';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobCreatorAccount, providerAccounts, signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { acceptanceTypes, offerDomain } from '../protocol/eip712.js';
import { jobOfferId, resourceOfferId, type JobOffer } from '../protocol/offers.js';
import { closeBlockstore, openBlockstore, type Blockstore } from '../storage/index.js';
import { openDealStore, type DealStore } from './deal-store.js';
import { resultsApp } from './results-server.js';

let dir: string;
let store: DealStore;
let blockstore: Blockstore;
let app: Hono;
let settled: Array<{ dealId: Hex; acceptance: Hex }>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-results-server-'));
  store = openDealStore(path.join(dir, 'provider.db'));
  blockstore = await openBlockstore(path.join(dir, 'blocks'));
  settled = [];
  // A chain that answers nothing: an ordinary account's signature is then checked by recovering its signer.
  const publicClient = createPublicClient({ chain: foundry, transport: custom({ request: async () => { throw new Error('no chain here'); } }) });
  app = resultsApp({}, { chain: { publicClient }, domain: testDomain, blockstore, store: () => store, settle: (dealId, acceptance) => settled.push({ dealId, acceptance }) });
});

afterEach(async () => {
  store.close();
  await closeBlockstore(blockstore);
  await rm(dir, { recursive: true, force: true });
});

/** A deal of this provider in the deal store, moved on to `stage`. */
async function storedDeal(stage: 'taken' | 'submitted'): Promise<{ dealId: Hex; jobOffer: JobOffer }> {
  const jobOffer = await signedJobOffer();
  const resourceOffer = await signedResourceOffer();
  const dealId = jobOfferId(testDomain, jobOffer.terms);
  store.add({ dealId, resourceOfferId: resourceOfferId(testDomain, resourceOffer.terms), state: 'matched', jobOffer, resourceOffer });
  if (stage === 'submitted') store.setStage(dealId, 'submitted', { resultCid: 'bafyresult' });
  return { dealId, jobOffer };
}

function signAcceptance(dealId: Hex, account = jobCreatorAccount): Promise<Hex> {
  return account.signTypedData({
    domain: offerDomain(testDomain.chainId, testDomain.dealsAddress),
    types: acceptanceTypes,
    primaryType: 'ResultsAcceptance',
    message: { dealId },
  });
}

async function postAcceptance(dealId: Hex, body: unknown): Promise<Response> {
  return app.request(`/api/v1/deals/${dealId}/acceptance`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('the acceptance route', () => {
  it('keeps the job creator’s acceptance of a submitted deal and queues its settlement', async () => {
    const { dealId } = await storedDeal('submitted');
    const signature = await signAcceptance(dealId);
    const response = await postAcceptance(dealId, { signature });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ dealId, queued: true });
    expect(store.get(dealId)?.acceptance).toBe(signature);
    expect(settled).toEqual([{ dealId, acceptance: signature }]);
  });

  it('refuses a signature that is not the job creator’s, or none', async () => {
    const { dealId } = await storedDeal('submitted');
    for (const body of [{ signature: await signAcceptance(dealId, providerAccounts[1]) }, { signature: 'not hex' }, {}]) {
      const response = await postAcceptance(dealId, body);
      expect(response.status).toBe(401);
      expect((await response.json()).error).toMatch(/not the job creator’s acceptance/);
    }
    expect(store.get(dealId)?.acceptance).toBeUndefined();
    expect(settled).toEqual([]);
  });

  it('answers 404 for a deal it does not know or has not agreed yet', async () => {
    const { dealId } = await storedDeal('taken');
    for (const id of [dealId, `0x${'ab'.repeat(32)}` as Hex]) {
      const response = await postAcceptance(id, { signature: await signAcceptance(id) });
      expect(response.status).toBe(404);
    }
    expect(settled).toEqual([]);
  });
});
