/**
 * The public network dashboard against a real embedded network: what it shows is what the chain says (every
 * deal's state, price and provider, and the jobs done) and what the providers signed (open offers). A
 * solver that lies (a forged offer, a deal's module name changed, a deal that is not on chain) gets none of
 * it shown, and a provider's module names reach the page as text, never as markup. The same on a configured
 * network, and a bad LILYPAD_DEALS_FROM_BLOCK is said as such.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Hono } from 'hono';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDeal, getDealEvents } from '../src/chain/index.js';
import type { JobNetwork } from '../src/job-creator/job-network.js';
import { createMarketView, type MarketSnapshot } from '../src/job-creator/market-view.js';
import { listen, type RunningHttpServer } from '../src/lib/http-server.js';
import { EMBEDDED_JOB_PRICE, startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { detailsHashOf } from '../src/protocol/ids.js';
import { offerDomain, offerTypes } from '../src/protocol/eip712.js';
import { toWire, type ResourceOffer } from '../src/protocol/offers.js';
import { createSolverClient } from '../src/solver/client.js';
import { readEvents, startTestStudio, studioTestEnv, WebClient, type TestStudio } from './studio-helpers.js';

let studio: TestStudio;
let network: JobNetwork;
let web: WebClient;
const dealIds: string[] = [];

/** Runs cowsay through the studio's web app, as a signed-in person, and returns the deal id of its job. */
async function runCowsay(message: string): Promise<string> {
  const started = await web.post('/jobs', { csrf: await web.csrfOf('/modules/cowsay'), module: 'cowsay:v0.0.1', 'input.Message': message }, { accept: 'application/json' });
  expect(started.status).toBe(201);
  const { id } = (await started.json()) as { id: string };
  const events = await readEvents(await web.fetch(`/jobs/${id}/events`));
  const result = events.at(-1)!;
  expect(result.data.status).toBe('succeeded');
  return result.data.dealId;
}

const snapshotJson = async (): Promise<any> => {
  const response = await fetch(studio.url + '/dashboard.json');
  expect(response.status).toBe(200);
  return response.json();
};

beforeAll(async () => {
  studio = await startTestStudio();
  network = await studio.network;
  web = new WebClient(studio.url);
  expect((await web.signUp('grace@example.com', 'correct horse battery')).status).toBe(303);
  dealIds.push(await runCowsay('moo'), await runCowsay('baa'));
});
afterAll(async () => {
  await studio?.end();
});

describe('the network dashboard', () => {
  it('shows every deal as the chain has it: state, price, provider, and the module its creator signed', async () => {
    const { publicClient, domain } = network.market;
    // The chain's own account of its deals, read here without the dashboard.
    const agreed = (await getDealEvents(publicClient, { deals: domain.dealsAddress, fromBlock: 0n, toBlock: await publicClient.getBlockNumber() })).filter((e) => e.type === 'agreed');
    expect(agreed.map((e) => e.dealId).sort()).toEqual([...dealIds].sort());

    // The deals' last step (the provider settling) may land just after the job's result: poll until the page says so.
    await expect.poll(async () => (await snapshotJson()).deals.map((d: { state: string }) => d.state), { timeout: 20_000 }).toEqual(['results-accepted', 'results-accepted']);
    const snapshot = await snapshotJson();
    expect(snapshot.deals.map((d: { dealId: string }) => d.dealId)).toEqual([...dealIds].reverse());
    for (const shown of snapshot.deals) {
      const onChain = (await getDeal(publicClient, { deals: domain.dealsAddress, dealId: shown.dealId }))!;
      expect(shown).toMatchObject({
        state: onChain.state,
        price: onChain.price.toString(),
        collateral: onChain.collateral.toString(),
        provider: onChain.resourceProvider,
        jobCreator: onChain.jobCreator,
        module: 'cowsay:v0.0.1',
        final: true,
      });
      expect(shown.agreedAtMs).toBeGreaterThan(Date.now() - 10 * 60_000);
    }
    // The provider: its jobs done and earnings are the chain's accepted deals; its machine and price from its signed offer.
    const provider = agreed[0]!.type === 'agreed' ? agreed[0]!.resourceProvider : undefined;
    expect(snapshot.providers).toHaveLength(1);
    expect(snapshot.providers[0]).toMatchObject({ address: provider, deals: 2, inFlight: 0, jobsDone: 2, earned: (2n * EMBEDDED_JOB_PRICE).toString(), openOffers: 1, modules: [] });
    expect(snapshot.providers[0].price).toEqual({ low: EMBEDDED_JOB_PRICE.toString(), high: EMBEDDED_JOB_PRICE.toString() });
    expect(snapshot.totals).toMatchObject({ providers: 1, openOffers: 1, dealsAgreed: 2, inFlight: 0, finished: 2, jobsDone: 2, paidOut: (2n * EMBEDDED_JOB_PRICE).toString() });
    // Both jobs were agreed within the last minutes; the prices are the deals'.
    expect(snapshot.jobsPerMinute.reduce((a: number, b: number) => a + b, 0)).toBe(2);
    expect(snapshot.recentPrices.map((p: { dealId: string; price: string }) => [p.dealId, p.price])).toEqual(dealIds.map((id) => [id, EMBEDDED_JOB_PRICE.toString()]));
    // The open offer is the provider's, as the solver lists it, and it used one capacity per deal.
    const listed = await network.market.solver.listResourceOffers();
    expect(snapshot.offers.map((o: { id: string }) => o.id)).toEqual(listed.items.map((o) => o.id));
    expect(snapshot.offers[0]).toMatchObject({ provider, price: EMBEDDED_JOB_PRICE.toString(), used: 2 });
    expect(snapshot.refusedOffers).toEqual([]);
    expect(snapshot.chain).toMatchObject({ chainId: domain.chainId, dealsAddress: domain.dealsAddress });
  });

  it('is public: the page, its live sections and the JSON answer without a sign-in, under the studio\'s CSP', async () => {
    const page = await fetch(studio.url + '/dashboard');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const body = await page.text();
    expect(body).toContain('<script src="/static/dashboard.js" defer></script>');
    expect(body).toContain('href="/dashboard">Network</a>');
    for (const id of dealIds) expect(body).toContain(`data-deal="${id}"`);
    expect(body).toContain('data-chart="jobs-per-minute"');
    expect(body).toContain('data-chart="prices"');
    expect(body).not.toMatch(/<script>/);
    const live = await fetch(studio.url + '/dashboard/live');
    expect(live.headers.get('cache-control')).toBe('no-store');
    expect(await live.text()).toContain(`data-deal="${dealIds[0]}"`);
    const script = await fetch(studio.url + '/static/dashboard.js');
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toContain("fetch('/dashboard/live'");
  });

  it('shows a provider\'s module names as text, never as markup', async () => {
    const { domain, solver } = network.market;
    const stranger = privateKeyToAccount('0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba');
    const evil = '<img src=x onerror=alert(1)>';
    const offer = await signOffer(stranger, domain, { modules: [evil, 'cowsay:v0.0.1'] });
    await solver.postResourceOffer(offer);
    await expect.poll(async () => (await snapshotJson()).offers.length, { timeout: 10_000 }).toBe(2);
    const body = await (await fetch(studio.url + '/dashboard')).text();
    expect(body).not.toContain(evil);
    expect(body).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('a market view in front of a solver that lies', () => {
  let liar: RunningHttpServer;
  let snapshot: MarketSnapshot;
  beforeAll(async () => {
    const { domain, publicClient, solver } = network.market;
    const honestOffer = (await solver.listResourceOffers()).items[0]!;
    const honestDeals = (await solver.listDeals()).items as Array<{ dealId: string; jobOffer: { moduleName: string } }>;
    const stranger = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
    const otherChain = await signOffer(stranger, { ...domain, chainId: domain.chainId + 1 }, {});
    const app = new Hono();
    app.get('/api/v1/resource-offers', (c) =>
      c.json({
        offers: [
          honestOffer,
          // The provider's offer with its price cut after signing.
          { ...honestOffer, id: 'cheaper', offer: { ...(honestOffer.offer as object), terms: { ...(honestOffer.offer as { terms: object }).terms, price: '1' } } },
          // Signed for another chain.
          { id: 'elsewhere', used: 0, offer: toWire(otherChain) },
          { id: 'junk', used: 0, offer: { terms: 'nonsense' } },
        ],
        next: null,
      }),
    );
    app.get('/api/v1/deals', (c) =>
      c.json({
        deals: [
          // A real deal whose module name was changed: it no longer hashes to the deal id.
          { ...honestDeals[0], state: 'results-accepted', jobOffer: { ...honestDeals[0]!.jobOffer, moduleName: 'stable-diffusion:v9' } },
          // A deal the chain has never heard of, said to be done.
          { ...honestDeals[1], dealId: `0x${'ab'.repeat(32)}`, state: 'results-accepted' },
        ],
        next: null,
      }),
    );
    liar = await listen(app, { host: '127.0.0.1', port: 0 });
    snapshot = await createMarketView({ publicClient, domain, solver: createSolverClient(liar.url), fromBlock: 0n }).snapshot();
  });
  afterAll(async () => {
    await liar?.close();
  });

  it('shows only the offer its provider signed, and says why the others are not shown', () => {
    expect(snapshot.offers).toHaveLength(1);
    expect(snapshot.offers[0]!.price).toBe(EMBEDDED_JOB_PRICE);
    expect(snapshot.refusedOffers).toEqual([
      { id: 'cheaper', reason: 'resource offer signature does not match resourceProvider' },
      { id: 'elsewhere', reason: 'resource offer signature does not match resourceProvider' },
      { id: 'junk', reason: expect.stringContaining('resource offer is malformed') },
    ]);
  });

  it('takes deals, states and prices from the chain, and a module name only when it hashes to the deal id', () => {
    expect(snapshot.deals.map((d) => d.dealId).sort()).toEqual([...dealIds].sort());
    expect(snapshot.deals.every((d) => d.state === 'results-accepted' && d.price === EMBEDDED_JOB_PRICE)).toBe(true);
    // The first listed deal's forged module name was refused; the other deal was not listed by its id at all.
    expect(snapshot.deals.map((d) => d.module)).toEqual([undefined, undefined]);
    expect(snapshot.deals.some((d) => d.dealId === `0x${'ab'.repeat(32)}`)).toBe(false);
  });
});

describe('a market view in front of a solver that never answers', () => {
  it('shows what the chain says, and that the solver did not answer, in bounded time', async () => {
    // Takes connections and says nothing.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { publicClient, domain } = network.market;
      const view = createMarketView({ publicClient, domain, solver: createSolverClient(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`), fromBlock: 0n }, { readTimeoutMs: 300 });
      const snapshot = await view.snapshot();
      expect(snapshot.solver.error).toBe('the solver did not answer within 0.3 s');
      expect(snapshot.offers).toEqual([]);
      expect(snapshot.deals.map((d) => d.dealId).sort()).toEqual([...dealIds].sort());
      expect(snapshot.chain.error).toBeUndefined();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('the dashboard of a studio on a configured network', () => {
  let other: EmbeddedNetwork;
  let configured: TestStudio;
  const configuredEnv = (extra: NodeJS.ProcessEnv) => ({
    ...studioTestEnv(studio.dataDir),
    WEB3_RPC_URL: other.rpcUrl,
    WEB3_PRIVATE_KEY: other.jobCreatorPrivateKey,
    SERVICE_SOLVER: other.solverUrl,
    SERVICE_MEDIATORS: other.mediators.join(','),
    LILYPAD_DEALS_ADDRESS: other.contracts.deals,
    ...extra,
  });
  beforeAll(async () => {
    // A whole network of its own (chain, solver, provider, mediator): the studio only knows its addresses.
    other = await startEmbeddedNetwork();
  });
  afterAll(async () => {
    await configured?.end();
    await other?.stop();
  });

  it('shows that network\'s provider, offer and deals, read from its chain and solver', async () => {
    configured = await startTestStudio({ env: configuredEnv({ LILYPAD_DEALS_FROM_BLOCK: '0' }) });
    const person = new WebClient(configured.url);
    expect((await person.signUp('ada@example.com', 'correct horse battery')).status).toBe(303);
    const started = await person.post('/jobs', { csrf: await person.csrfOf('/modules/cowsay'), module: 'cowsay:v0.0.1', 'input.Message': 'moo' }, { accept: 'application/json' });
    const { id } = (await started.json()) as { id: string };
    const result = (await readEvents(await person.fetch(`/jobs/${id}/events`))).at(-1)!.data;
    expect(result.status).toBe('succeeded');
    await expect.poll(async () => ((await (await fetch(configured.url + '/dashboard.json')).json()) as any).deals.map((d: any) => [d.dealId, d.state]), { timeout: 20_000 }).toEqual([
      [result.dealId, 'results-accepted'],
    ]);
    const snapshot = (await (await fetch(configured.url + '/dashboard.json')).json()) as any;
    expect(snapshot.chain.dealsAddress).toBe(other.contracts.deals);
    expect(snapshot.providers.map((p: { address: string }) => p.address)).toEqual([other.resourceProvider]);
    expect(snapshot.offers.map((o: { provider: string }) => o.provider)).toEqual([other.resourceProvider]);
    expect(snapshot.deals[0].module).toBe('cowsay:v0.0.1');
  });

  it('says why the network is not open when LILYPAD_DEALS_FROM_BLOCK is not a block number', async () => {
    const broken = await startTestStudio({ env: configuredEnv({ LILYPAD_DEALS_FROM_BLOCK: 'latest' }) });
    try {
      await expect(broken.network).rejects.toThrow('LILYPAD_DEALS_FROM_BLOCK must be a block number such as 12345678');
      const response = await fetch(broken.url + '/dashboard.json');
      expect(response.status).toBe(503);
      expect(((await response.json()) as any).error.message).toBe('The network did not start: LILYPAD_DEALS_FROM_BLOCK must be a block number such as 12345678');
    } finally {
      await broken.end();
    }
  });
});

/** A resource offer signed by `account` for `domain`, like a provider's. */
async function signOffer(account: ReturnType<typeof privateKeyToAccount>, domain: { chainId: number; dealsAddress: `0x${string}` }, details: Partial<ResourceOffer['details']>): Promise<ResourceOffer> {
  const fullDetails: ResourceOffer['details'] = { machine: { cpu: 4000, gpu: 0, ram: 8192 }, engines: ['wasm'], modules: [], resultsUrl: 'http://127.0.0.1:9/', ...details };
  const terms = {
    resourceProvider: account.address,
    price: 2n * 10n ** 18n,
    collateralMultiple: 2n,
    capacity: 4n,
    mediators: [account.address],
    minSubmitTimeout: 60n,
    maxJudgeWindow: 3600n,
    maxMediationTimeout: 3600n,
    detailsHash: detailsHashOf(fullDetails),
    nonce: BigInt(Date.now()),
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
  };
  const signature = await account.signTypedData({ domain: offerDomain(domain.chainId, domain.dealsAddress), types: offerTypes, primaryType: 'ResourceOffer', message: terms });
  return { terms, details: fullDetails, signature };
}
