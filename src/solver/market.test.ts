/**
 * Offers that cannot stall the market: the solver matches only providers that hold the collateral in
 * escrow (read from a real anvil) and are subscribed to their deals, matches a job elsewhere when its
 * provider does not agree in time, withdraws the offers of a provider that went away, and keeps serving
 * everyone else when one address opens thousands of connections. Real HTTP, WebSocket and TCP on loopback.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { LP } from '../chain/testing.js';
import { chainReadDeal } from '../network/read-deal.js';
import { jobCreatorAccount, signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { connectProvider, startEscrowChain, type EscrowChain } from '../../test/fixtures/solver.js';
import type { DealEvent } from '../protocol/deals.js';
import { jobOfferId, matchAcceptanceTypedData, resourceOfferId, toWire, type JobOffer } from '../protocol/offers.js';
import { createSolverClient, type SolverClient } from './client.js';
import { signSolverRequest } from './requests.js';
import { connectionKey } from './connection-cap.js';
import { createSolver, type Solver, type SolverConfig } from './solver.js';

let chain: EscrowChain;
let solver: Solver | undefined;
let client: SolverClient;
const closers: Array<() => void> = [];

beforeAll(async () => {
  chain = await startEscrowChain();
});

afterAll(async () => {
  await chain.stop();
});

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await solver?.stop();
  solver = undefined;
});

async function start(config: SolverConfig = {}): Promise<Solver> {
  solver = createSolver(config, { domain: testDomain, readDeal: chainReadDeal(chain.kit.publicClient, chain.kit.deals), freeEscrow: chain.freeEscrow });
  await solver.start();
  client = createSolverClient(solver.url, { reconnectForMs: 0 });
  return solver;
}

/** A provider key of its own, with `escrow` LP in its escrow on chain. */
async function freshProvider(escrow: bigint) {
  const account = privateKeyToAccount(generatePrivateKey());
  if (escrow > 0n) await chain.kit.fundParty(account.address, { escrow });
  return account;
}

async function connect(account: Parameters<typeof connectProvider>[1]) {
  const subscription = await connectProvider(client, account);
  closers.push(() => subscription.close());
  return subscription;
}

async function followJob(job: JobOffer) {
  const events: DealEvent[] = [];
  const subscription = client.subscribe({ jobOffer: jobOfferId(testDomain, job.terms), jobCreator: jobCreatorAccount.address, signer: jobCreatorAccount, domain: testDomain }, (e) => events.push(e));
  closers.push(() => subscription.close());
  await subscription.ready;
  return events;
}

const jobState = async (job: JobOffer) => (await fetch(`${solver!.url}/api/v1/job-offers/${jobOfferId(testDomain, job.terms)}`).then((r) => r.json())) as { state: string; reason?: string; deal?: any };

async function post(path: string, body: unknown) {
  const response = await fetch(solver!.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error?: string } };
}

describe('offers that cannot stall the market', () => {
  it('does not match a free offer of a key that holds nothing, nor more deals than the escrow covers', async () => {
    await start({ chainRefreshMs: 100 });
    // The attack: a key with no LP offers its machine for nothing, a thousand times over.
    const fake = await freshProvider(0n);
    await connect(fake);
    await client.postResourceOffer(await signedResourceOffer({ terms: { price: 0n, capacity: 1000n } }, fake));
    const first = await signedJobOffer();
    expect(await client.postJobOffer(first)).toMatchObject({ state: 'pending', reason: "no offer fits: 1 offer's provider has too little collateral in escrow" });

    // An honest provider whose escrow covers one deal (price 1 LP × collateral multiple 2 = 2 LP).
    const honest = await freshProvider(LP(3));
    const honestEvents = (await connect(honest)).events;
    await client.postResourceOffer(await signedResourceOffer({ terms: { price: LP(1), collateralMultiple: 2n, capacity: 10n } }, honest));
    await expect.poll(async () => (await jobState(first)).state).toBe('matched');
    expect((await jobState(first)).deal.resourceOffer.terms.resourceProvider).toBe(honest.address);
    const second = await signedJobOffer();
    const secondEvents = await followJob(second);
    expect(await client.postJobOffer(second)).toMatchObject({ state: 'pending', reason: "no offer fits: 2 offers' providers have too little collateral in escrow" });

    // Once it deposits more on chain, the solver reads it and the waiting job is matched.
    await chain.kit.fundParty(honest.address, { escrow: LP(2) });
    await expect.poll(() => secondEvents.map((e) => e.type)).toContain('deal:matched');
    await expect.poll(() => honestEvents.filter((e) => e.type === 'deal:matched').length).toBe(2);
  });

  it('refuses a results URL that is not http(s)', async () => {
    await start();
    const offer = await signedResourceOffer({ details: { resultsUrl: 'javascript:alert(1)' } });
    expect(await post('/api/v1/resource-offers', toWire(offer))).toEqual({ status: 400, json: { error: 'resource offer resultsUrl must be an http(s) URL, not javascript:' } });
    const file = await signedResourceOffer({ details: { resultsUrl: 'file:///etc/passwd' } });
    expect(await post('/api/v1/resource-offers', toWire(file))).toEqual({ status: 400, json: { error: 'resource offer resultsUrl must be an http(s) URL, not file:' } });
  });

  it('matches a provider only while it is subscribed, and matches the waiting job when it subscribes', async () => {
    await start();
    const provider = await freshProvider(LP(10));
    await client.postResourceOffer(await signedResourceOffer({}, provider));
    const job = await signedJobOffer();
    expect(await client.postJobOffer(job)).toMatchObject({ state: 'pending', reason: "no offer fits: 1 offer's provider is not connected" });
    const { events } = await connect(provider);
    await expect.poll(() => events.map((e) => (e.type === 'deal:matched' ? e.deal.dealId : e.type))).toEqual([jobOfferId(testDomain, job.terms)]);
  });

  it('matches the job elsewhere when the provider does not agree it on chain in time, and pauses that provider', async () => {
    await start({ agreementTimeoutMs: 1000, chainRefreshMs: 100, stalePauseMs: 60_000 });
    const silent = await freshProvider(LP(10));
    const other = await freshProvider(LP(10));
    const silentEvents = (await connect(silent)).events;
    const otherEvents = (await connect(other)).events;
    // The silent provider is the cheaper one, so it wins the match, and then never agrees.
    await client.postResourceOffer(await signedResourceOffer({ terms: { price: LP(1) } }, silent));
    await client.postResourceOffer(await signedResourceOffer({ terms: { price: LP(2) } }, other));
    const job = await signedJobOffer();
    const id = jobOfferId(testDomain, job.terms);
    const creatorEvents = await followJob(job);
    const posted = await client.postJobOffer(job);
    expect(posted.state).toBe('matched');
    if (posted.state === 'pending') return;
    // The clock runs from the job creator's acceptance of the match: from then on only the provider can act.
    const rid = resourceOfferId(testDomain, posted.deal.resourceOffer.terms);
    await client.acceptMatch(id, await jobCreatorAccount.signTypedData(matchAcceptanceTypedData(testDomain, id, rid)));

    await expect.poll(() => otherEvents.some((e) => e.type === 'deal:matched' && e.deal.dealId === id), { timeout: 10_000 }).toBe(true);
    const dropped = `resource provider ${silent.address} did not agree the deal on chain within 1 s; matching the job again`;
    expect(creatorEvents.map((e) => (e.type === 'job:unmatched' ? e.reason : `${e.type} ${e.deal.resourceOffer.terms.resourceProvider}`))).toEqual([
      `deal:matched ${silent.address}`,
      `deal:matched ${silent.address}`,
      dropped,
      `deal:matched ${other.address}`,
    ]);
    expect(silentEvents.map((e) => e.type)).toEqual(['deal:matched', 'deal:matched', 'job:unmatched']);
    expect((await client.getDeal(id)).resourceOffer.terms.resourceProvider).toBe(other.address);
    // The silent provider gets no more jobs while it is paused.
    const next = await signedJobOffer();
    expect((await client.postJobOffer(next)).state).toBe('matched');
    expect((await client.getDeal(jobOfferId(testDomain, next.terms))).resourceOffer.terms.resourceProvider).toBe(other.address);
  });

  it('withdraws the offers of a provider that went away after the grace, and brings them back when it returns', async () => {
    await start({ providerGraceMs: 300 });
    const provider = await freshProvider(LP(10));
    // Provider-like: a raw WebSocket subscribed as the provider, then cut off as a killed process would be.
    const socket = new WebSocket(solver!.url.replace('http', 'ws') + '/api/v1/events');
    await new Promise((resolve) => socket.once('open', resolve));
    const subscribed = new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ subscribe: { resourceProvider: provider.address }, auth: toWire(await signSolverRequest(provider, testDomain, { party: provider.address, action: 'subscribe-resource-provider' })) }));
    await subscribed;
    await client.postResourceOffer(await signedResourceOffer({}, provider));
    socket.terminate();

    const job = await signedJobOffer();
    await client.postJobOffer(job);
    // Within the grace the offer is known but not matched; after it, it is gone from the book.
    await expect.poll(async () => (await jobState(job)).reason, { timeout: 10_000 }).toBe('no resource offers are posted');
    expect((await jobState(job)).state).toBe('pending');
    // Restarted, the provider subscribes again: its offer is back and takes the waiting job.
    const { events } = await connect(provider);
    await expect.poll(() => events.map((e) => e.type)).toEqual(['deal:matched']);
    expect((await jobState(job)).state).toBe('matched');
  });

  it('keeps serving other addresses while one address holds 4,200 idle connections, and closes idle ones', async () => {
    await start({ idleTimeoutMs: 60_000 });
    const { port } = new URL(solver!.url);
    const flood: net.Socket[] = [];
    closers.push(() => flood.forEach((s) => s.destroy()));
    let closed = 0;
    // In batches of 100, so that the kernel's accept queue (not the solver) never turns one away.
    for (let batch = 0; batch < 42; batch += 1) {
      await Promise.all(
        Array.from({ length: 100 }, () =>
          new Promise<void>((resolve) => {
            const socket = net.connect({ host: '127.0.0.1', port: Number(port), localAddress: '127.0.0.1' });
            flood.push(socket);
            socket.on('error', () => undefined);
            socket.once('close', () => (closed += 1));
            socket.once('connect', () => resolve());
            socket.once('close', () => resolve());
          }),
        ),
      );
    }
    // All but the per-address cap (256 by default) are closed at once.
    await expect.poll(() => closed, { timeout: 10_000 }).toBe(4200 - 256);
    // Another address (127.0.0.2 is loopback too) is served, over HTTP and WebSocket.
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/api/v1/deals/0x' + '00'.repeat(32), localAddress: '127.0.0.2' }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(404);
    const ws = new WebSocket(solver!.url.replace('http', 'ws') + '/api/v1/events', { localAddress: '127.0.0.2' });
    closers.push(() => ws.terminate());
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    expect(closed).toBe(4200 - 256); // the capped ones are still open: the cap closes only what is over it
    await solver!.stop();

    // Idle connections, HTTP and a WebSocket that never subscribes, are closed after the idle time.
    await start({ idleTimeoutMs: 300 });
    const idle = net.connect({ host: '127.0.0.1', port: Number(new URL(solver!.url).port) });
    closers.push(() => idle.destroy());
    await new Promise((resolve) => idle.once('close', resolve));
    const quiet = new WebSocket(solver!.url.replace('http', 'ws') + '/api/v1/events');
    closers.push(() => quiet.terminate());
    expect(await new Promise<number>((resolve) => quiet.once('close', (code) => resolve(code)))).toBe(1008);
  });

  it('counts an IPv6 /64 as one address', () => {
    expect(connectionKey('2001:db8:1:2:aaaa::1')).toBe(connectionKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(connectionKey('2001:db8:1:3::1')).not.toBe(connectionKey('2001:db8:1:2::1'));
    expect(connectionKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(connectionKey('::1')).toBe('0:0:0:0::/64');
  });
});
