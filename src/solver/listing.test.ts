/**
 * The solver's public listings on 127.0.0.1: open resource offers and recent deals, page by page, capped,
 * with a 400 that says what is wrong for a bad query, and no job's inputs in them. The providers' escrow is
 * read from a real anvil.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerAccounts, signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { connectProvider, startEscrowChain, type EscrowChain } from '../../test/fixtures/solver.js';
import { jobOfferId, parsePublicJobOffer, parseResourceOffer, resourceOfferId, verifyResourceOfferSignature } from '../protocol/offers.js';
import { createSolverClient, type SolverClient } from './client.js';
import { LISTING_LIMITS } from './routes.js';
import { createSolver, type Solver } from './solver.js';

let chain: EscrowChain;
let solver: Solver;
let client: SolverClient;

beforeAll(async () => {
  chain = await startEscrowChain();
  solver = createSolver({}, {
    domain: testDomain,
    freeEscrow: chain.freeEscrow,
    readDeal: async () => {
      throw new Error('readDeal is not expected in these tests');
    },
  });
  await solver.start();
  client = createSolverClient(solver.url);
});

afterAll(async () => {
  await solver?.stop();
  await chain?.stop();
});

const get = async (path: string) => {
  const response = await fetch(solver.url + path);
  return { status: response.status, json: (await response.json()) as any };
};

describe('public listings', () => {
  it('lists the open resource offers page by page, each as its provider signed it, and leaves out used-up ones', async () => {
    const connected = await connectProvider(client);
    const offers = [];
    for (let i = 0; i < 5; i++) {
      const offer = await signedResourceOffer({ terms: { price: BigInt(i + 1) * 10n ** 18n, capacity: i === 0 ? 1n : 4n } });
      await client.postResourceOffer(offer);
      offers.push(offer);
    }
    // The cheapest offer has room for one deal: a job uses it up, and it is no longer open.
    expect((await client.postJobOffer(await signedJobOffer())).state).toBe('matched');
    const open = offers.slice(1).map((offer) => resourceOfferId(testDomain, offer.terms));

    const first = await get('/api/v1/resource-offers?limit=3');
    expect(first.status).toBe(200);
    expect(first.json.offers.map((o: { id: string }) => o.id)).toEqual(open.slice(0, 3));
    expect(typeof first.json.next).toBe('number');
    const second = await get(`/api/v1/resource-offers?limit=3&after=${first.json.next}`);
    expect(second.json.offers.map((o: { id: string }) => o.id)).toEqual(open.slice(3));
    expect(second.json.next).toBeNull();
    // What a reader gets verifies as the provider's own signed offer.
    for (const listed of [...first.json.offers, ...second.json.offers]) {
      const offer = parseResourceOffer(listed.offer);
      expect(resourceOfferId(testDomain, offer.terms)).toBe(listed.id);
      expect(await verifyResourceOfferSignature(testDomain, offer)).toBe(true);
      expect(offer.terms.resourceProvider).toBe(providerAccounts[0]!.address);
    }
    // The client reads the same.
    const listed = await client.listResourceOffers({ limit: 100 });
    expect(listed.items.map((o) => o.id)).toEqual(open);
    expect(listed.next).toBeUndefined();
    connected.close();
  });

  it('lists the deals newest first, without the jobs\' inputs, and their offers still verify', async () => {
    const connected = await connectProvider(client);
    await client.postResourceOffer(await signedResourceOffer({ terms: { capacity: 10n } }));
    const jobs = [];
    for (const message of ['one', 'two', 'three']) {
      const job = await signedJobOffer({ inputs: { Message: `secret ${message}` } });
      expect((await client.postJobOffer(job)).state).toBe('matched');
      jobs.push(jobOfferId(testDomain, job.terms));
    }
    const newest = [...jobs].reverse();
    const first = await get('/api/v1/deals?limit=2');
    expect(first.status).toBe(200);
    expect(first.json.deals.map((d: { dealId: string }) => d.dealId)).toEqual(newest.slice(0, 2));
    const second = await get(`/api/v1/deals?limit=2&before=${first.json.next}`);
    expect(second.json.deals[0].dealId).toBe(newest[2]);
    expect(JSON.stringify([first.json, second.json])).not.toContain('secret');
    for (const deal of first.json.deals) {
      expect(deal.state).toBe('matched');
      expect(deal.jobOffer.inputs).toBeUndefined();
      const job = parsePublicJobOffer(deal.jobOffer);
      expect(jobOfferId(testDomain, job.terms)).toBe(deal.dealId);
      expect(job.moduleName).toBe('cowsay:v0.0.1');
      expect(typeof deal.matchedAtMs).toBe('number');
    }
    // A listed job offer whose module name was changed no longer matches its signed details.
    const forged = { ...first.json.deals[0].jobOffer, moduleName: 'something-else:v1' };
    expect(() => parsePublicJobOffer(forged)).toThrow(/detailsHash does not match/);
    expect((await client.listDeals({ limit: 1 })).items).toHaveLength(1);
    connected.close();
  });

  it('caps a page at the most a listing holds', async () => {
    const all = await get(`/api/v1/deals?limit=${LISTING_LIMITS.max}`);
    expect(all.status).toBe(200);
    expect(all.json.deals.length).toBeLessThanOrEqual(LISTING_LIMITS.max);
    const tooMany = await get(`/api/v1/deals?limit=${LISTING_LIMITS.max + 1}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error).toBe(`limit must be a whole number from 1 to ${LISTING_LIMITS.max}, not "${LISTING_LIMITS.max + 1}"`);
  });

  it('refuses a bad query with a 400 that says what is wrong', async () => {
    for (const [path, error] of [
      ['/api/v1/resource-offers?limit=0', 'limit must be a whole number from 1 to 100, not "0"'],
      ['/api/v1/resource-offers?limit=ten', 'limit must be a whole number from 1 to 100, not "ten"'],
      ['/api/v1/resource-offers?limit=-1', 'limit must be a whole number from 1 to 100, not "-1"'],
      ['/api/v1/resource-offers?after=abc', 'after must be the `next` of an earlier page (a whole number), not "abc"'],
      ['/api/v1/deals?before=1e9', 'before must be the `next` of an earlier page (a whole number), not "1e9"'],
      ['/api/v1/deals?limit=99999999999999999999', `limit must be a whole number from 1 to 100, not "99999999999999999999"`],
    ] as const) {
      const response = await get(path);
      expect(response.status, path).toBe(400);
      expect(response.json, path).toEqual({ error });
    }
    // The client turns a refusal into an error that says the same.
    await expect(client.listDeals({ limit: 0 })).rejects.toThrow('limit must be a whole number from 1 to 100');
  });
});
