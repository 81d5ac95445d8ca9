/**
 * The solver's HTTP + WebSocket API on 127.0.0.1: matching, subscriptions, and refusing bad requests. The
 * providers' escrow is read from a real anvil.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { privateKeyToAccount } from 'viem/accounts';
import { jobCreatorAccount, providerAccounts, signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { connectProvider, startEscrowChain, type EscrowChain } from '../../test/fixtures/solver.js';
import type { DealEvent } from '../protocol/deals.js';
import { jobOfferId, toWire } from '../protocol/offers.js';
import { createSolverClient, type SolverClient } from './client.js';
import { createSolver, type Solver } from './solver.js';

let solver: Solver;
let client: SolverClient;
let chain: EscrowChain;

beforeAll(async () => {
  chain = await startEscrowChain();
});

afterAll(async () => {
  await chain.stop();
});

beforeEach(async () => {
  solver = createSolver({ maxBodyBytes: 64 * 1024 }, {
    domain: testDomain,
    freeEscrow: chain.freeEscrow,
    // These tests never reach the chain; a sync would be a bug here.
    readDeal: async () => {
      throw new Error('readDeal is not expected in these tests');
    },
  });
  await solver.start();
  client = createSolverClient(solver.url);
});

afterEach(async () => {
  await solver.stop();
});

async function post(path: string, body: unknown) {
  const response = await fetch(solver.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error?: string; state?: string; reason?: string } };
}

describe('solver API', () => {
  it('matches a job offer with a resource offer and tells both parties over WebSocket', async () => {
    const resourceOffer = await signedResourceOffer();
    const jobOffer = await signedJobOffer();
    const id = jobOfferId(testDomain, jobOffer.terms);
    const providerEvents: DealEvent[] = [];
    const creatorEvents: DealEvent[] = [];
    const providerSubscription = client.subscribe(
      { resourceProvider: resourceOffer.terms.resourceProvider, signer: providerAccounts[0]!, domain: testDomain },
      (e) => providerEvents.push(e),
    );
    const creatorSubscription = client.subscribe(
      { jobOffer: id, jobCreator: jobCreatorAccount.address, signer: jobCreatorAccount, domain: testDomain },
      (e) => creatorEvents.push(e),
    );
    await Promise.all([providerSubscription.ready, creatorSubscription.ready]);

    await client.postResourceOffer(resourceOffer);
    const posted = await client.postJobOffer(jobOffer);
    expect(posted.state).toBe('matched');
    await expect.poll(() => providerEvents.length).toBe(1);
    await expect.poll(() => creatorEvents.length).toBe(1);
    const event = providerEvents[0]!;
    expect(event.type).toBe('deal:matched');
    if (event.type !== 'deal:matched') return;
    expect(event.deal.dealId).toBe(id);
    expect(event.deal.jobOffer.inputs).toEqual({ Message: 'moo' });
    expect(event.deal.resourceOffer.terms.resourceProvider).toBe(resourceOffer.terms.resourceProvider);
    providerSubscription.close();
    creatorSubscription.close();
  });

  it('tells a provider that (re)subscribes after the match of its open matched deals, and only those', async () => {
    // The provider posted its offer and lost its connection right after two job offers were matched to it.
    const connected = await connectProvider(client);
    await client.postResourceOffer(await signedResourceOffer());
    await client.postResourceOffer(await signedResourceOffer({ terms: { price: 2n * 10n ** 18n } }, providerAccounts[1]));
    const first = await signedJobOffer();
    const second = await signedJobOffer({ inputs: { Message: 'baa' } });
    expect((await client.postJobOffer(first)).state).toBe('matched');
    expect((await client.postJobOffer(second)).state).toBe('matched');
    connected.close();

    const subscribeAs = async (index: 0 | 1) => {
      const events: DealEvent[] = [];
      const account = providerAccounts[index]!;
      const subscription = client.subscribe({ resourceProvider: account.address, signer: account, domain: testDomain }, (e) => events.push(e));
      await subscription.ready;
      return { events, subscription };
    };
    const back = await subscribeAs(0);
    const ids = [jobOfferId(testDomain, first.terms), jobOfferId(testDomain, second.terms)].sort();
    await expect.poll(() => back.events.map((e) => (e.type === 'deal:matched' ? e.deal.dealId : e.type)).sort()).toEqual(ids);
    back.subscription.close();
    // Told again after a reconnect (its crash recovery skips what it knows); another provider hears nothing of them.
    const again = await subscribeAs(0);
    await expect.poll(() => again.events.length).toBe(2);
    const other = await subscribeAs(1);
    // Whatever the solver tells a provider of its open deals comes right after it confirms the subscription,
    // so a deal matched to the other provider now, on the same connection, comes after it: once that is
    // here, it is all that came.
    await client.postResourceOffer(await signedResourceOffer({ details: { machine: { cpu: 1000, gpu: 1000, ram: 1024 } } }, providerAccounts[1]));
    const forOther = await signedJobOffer({ machine: { cpu: 100, gpu: 1000, ram: 64 } });
    expect((await client.postJobOffer(forOther)).state).toBe('matched');
    await expect.poll(() => other.events.length).toBeGreaterThan(0);
    expect(other.events.map((e) => (e.type === 'deal:matched' ? e.deal.dealId : e.type))).toEqual([jobOfferId(testDomain, forOther.terms)]);
    again.subscription.close();
    other.subscription.close();
  });

  it('keeps an unmatched job offer waiting with the reason, and matches it when an offer arrives', async () => {
    const jobOffer = await signedJobOffer({ machine: { cpu: 100, gpu: 1000, ram: 64 } });
    const first = await client.postJobOffer(jobOffer);
    expect(first).toMatchObject({ state: 'pending', reason: 'no resource offers are posted' });
    const provider = await connectProvider(client);
    await client.postResourceOffer(await signedResourceOffer());
    const again = await post('/api/v1/job-offers', toWire(jobOffer));
    expect(again.json).toMatchObject({ state: 'pending', reason: 'no offer fits: 1 offer has too few GPUs' });
    await client.postResourceOffer(await signedResourceOffer({ details: { machine: { cpu: 1000, gpu: 1000, ram: 1024 } } }));
    const status = await fetch(`${solver.url}/api/v1/job-offers/${jobOfferId(testDomain, jobOffer.terms)}`).then((r) => r.json());
    expect(status.state).toBe('matched');
    provider.close();
  });

  it('refuses a job offer whose signature is not the job creator\'s, and keeps serving', async () => {
    const forger = privateKeyToAccount('0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba');
    const honest = await signedJobOffer();
    const forged = { ...(await signedJobOffer({ terms: { jobCreator: honest.terms.jobCreator } }, forger)) };
    const response = await post('/api/v1/job-offers', toWire(forged));
    expect(response.status).toBe(401);
    expect(response.json.error).toBe('job offer signature does not match jobCreator');
    expect((await post('/api/v1/job-offers', toWire(honest))).status).toBe(202);
  });

  it('refuses offers whose details do not match what was signed', async () => {
    const jobOffer = await signedJobOffer();
    const tampered = { ...toWire(jobOffer) as object, inputs: { Message: 'rm -rf /' } };
    expect(await post('/api/v1/job-offers', tampered)).toMatchObject({ status: 400, json: { error: 'job offer inputsHash does not match its inputs' } });
    const resourceOffer = await signedResourceOffer();
    const cheaperMachine = { ...toWire(resourceOffer) as object, details: { ...resourceOffer.details, resultsUrl: 'http://127.0.0.1:8/' } };
    expect(await post('/api/v1/resource-offers', cheaperMachine)).toMatchObject({ status: 400, json: { error: 'resource offer detailsHash does not match its details' } });
  });

  it('refuses malformed, expired and oversized requests with a clear error', async () => {
    expect(await post('/api/v1/job-offers', { terms: {} })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/^job offer is malformed at terms\.jobCreator/) } });
    const expired = await signedResourceOffer({ terms: { expiry: 1n } });
    expect(await post('/api/v1/resource-offers', toWire(expired))).toMatchObject({ status: 400, json: { error: 'resource offer has expired' } });
    const huge = await signedJobOffer({ inputs: { Message: 'x'.repeat(100 * 1024) } });
    expect(await post('/api/v1/job-offers', toWire(huge))).toMatchObject({ status: 413, json: { error: 'request body too large' } });
    const notJson = await fetch(solver.url + '/api/v1/job-offers', { method: 'POST', body: 'not json' });
    expect(notJson.status).toBe(400);
  });

  it('starting or stopping twice is harmless', async () => {
    await solver.start();
    const url = solver.url;
    await solver.start();
    expect(solver.url).toBe(url);
    await solver.stop();
    await solver.stop();
    await solver.start();
  });
});
