/**
 * The solver refuses what it must, with a clear error, and keeps serving everyone else: forged
 * signatures, replayed requests, subscriptions to another party's events, oversized bodies, floods, and a
 * subscriber that never reads. Real HTTP and WebSocket on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { privateKeyToAccount } from 'viem/accounts';
import { jobCreatorAccount, providerAccounts, signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { connectProvider, startEscrowChain, type EscrowChain } from '../../test/fixtures/solver.js';
import type { DealEvent } from '../protocol/deals.js';
import { jobOfferId, resourceOfferId, toWire } from '../protocol/offers.js';
import { createSolverClient } from './client.js';
import { signSolverRequest } from './requests.js';
import { createSolver, type Solver, type SolverConfig } from './solver.js';

const stranger = privateKeyToAccount('0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba');
const [providerA, providerB] = providerAccounts as [typeof providerAccounts[0], typeof providerAccounts[0]];
let solver: Solver | undefined;
const sockets: WebSocket[] = [];
let logLines: string[] = [];
let chain: EscrowChain;

beforeAll(async () => {
  chain = await startEscrowChain();
});

afterAll(async () => {
  await chain.stop();
});

async function start(config: SolverConfig = {}): Promise<Solver> {
  logLines = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (logLines.push(String(chunk)), done()) }));
  solver = createSolver(config, {
    domain: testDomain,
    freeEscrow: chain.freeEscrow,
    readDeal: async () => {
      throw new Error('readDeal is not expected in these tests');
    },
    logger,
  });
  await solver.start();
  return solver;
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) {
    socket.on('error', () => undefined);
    if (socket.readyState !== socket.CONNECTING) socket.terminate();
    else socket.once('open', () => socket.terminate());
  }
  await solver?.stop();
  solver = undefined;
});

async function post(path: string, body: unknown) {
  const response = await fetch(solver!.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as { error?: string; state?: string } };
}

/** A raw WebSocket that sends one message and collects what comes back. */
async function rawSubscribe(message: unknown): Promise<{ socket: WebSocket; replies: any[] }> {
  const socket = new WebSocket(solver!.url.replace('http', 'ws') + '/api/v1/events');
  sockets.push(socket);
  const replies: any[] = [];
  socket.on('message', (data) => replies.push(JSON.parse(String(data))));
  socket.on('error', () => undefined);
  await new Promise((resolve, reject) => (socket.once('open', resolve), socket.once('error', reject)));
  socket.send(JSON.stringify(message));
  await expect.poll(() => replies.length).toBeGreaterThan(0);
  return { socket, replies };
}

const subscribeToJobOffer = async (account: typeof stranger, jobOffer: string) => ({
  subscribe: { jobOffer },
  auth: toWire(await signSolverRequest(account, testDomain, { party: account.address, action: 'subscribe-job-offer', target: jobOffer as `0x${string}` })),
});

/**
 * Subscribes `subscriber`'s connection to a job offer nobody posted and waits for the solver's reply: a
 * round trip through that connection, so everything the solver had sent on it before has arrived.
 */
async function roundTrip(subscriber: { socket: WebSocket; replies: any[] }, account: typeof stranger): Promise<void> {
  const unposted = `0x${randomBytes(32).toString('hex')}`;
  subscriber.socket.send(JSON.stringify(await subscribeToJobOffer(account, unposted)));
  await expect.poll(() => subscriber.replies.some((reply) => reply.type === 'subscribed' && reply.subscription?.jobOffer === unposted)).toBe(true);
}

const subscribeAsProvider = async (account = providerA, resourceProvider = account.address) => ({
  subscribe: { resourceProvider },
  auth: toWire(await signSolverRequest(account, testDomain, { party: account.address, action: 'subscribe-resource-provider' })),
});

describe('solver security', () => {
  it('refuses a subscription with a forged signature, and keeps serving the real party', async () => {
    await start();
    const forged = {
      subscribe: { resourceProvider: providerA.address },
      // Signed by a stranger, claiming to be provider A.
      auth: { ...(toWire(await signSolverRequest(stranger, testDomain, { party: stranger.address, action: 'subscribe-resource-provider' })) as object), party: providerA.address },
    };
    const { replies } = await rawSubscribe(forged);
    expect(replies[0]).toEqual({ type: 'error', error: `signature does not match party ${providerA.address}` });
    const unsigned = await rawSubscribe({ subscribe: { resourceProvider: providerA.address } });
    expect(unsigned.replies[0].error).toMatch(/^subscriptions must be signed by the party they are for/);
    const honest = await rawSubscribe(await subscribeAsProvider());
    expect(honest.replies[0]).toMatchObject({ type: 'subscribed' });
  });

  it('refuses a replayed subscription, offer or withdrawal', async () => {
    await start();
    const message = await subscribeAsProvider();
    expect((await rawSubscribe(message)).replies[0]).toMatchObject({ type: 'subscribed' });
    expect((await rawSubscribe(message)).replies[0]).toEqual({ type: 'error', error: 'signed request was already used (replay refused); sign a fresh one' });

    const resourceOffer = await signedResourceOffer({ terms: { capacity: 1n } });
    const jobOffer = await signedJobOffer();
    expect((await post('/api/v1/resource-offers', toWire(resourceOffer))).status).toBe(201);
    expect((await post('/api/v1/job-offers', toWire(jobOffer))).json.state).toBe('matched');
    const id = jobOfferId(testDomain, jobOffer.terms);
    expect(await post('/api/v1/job-offers', toWire(jobOffer))).toEqual({
      status: 409,
      json: { error: `job offer ${id} was already matched into a deal (matched); an offer is used once: sign a new one with a new nonce` },
    });
    const offerId = resourceOfferId(testDomain, resourceOffer.terms);
    expect(await post('/api/v1/resource-offers', toWire(resourceOffer))).toEqual({
      status: 409,
      json: { error: `resource offer ${offerId} was already used up; sign a new offer with a new nonce` },
    });

    const open = await signedResourceOffer();
    const openId = resourceOfferId(testDomain, open.terms);
    await post('/api/v1/resource-offers', toWire(open));
    const withdrawal = toWire(await signSolverRequest(providerA, testDomain, { party: providerA.address, action: 'withdraw-resource-offer', target: openId }));
    expect(await post(`/api/v1/resource-offers/${openId}/withdraw`, withdrawal)).toEqual({ status: 200, json: { id: openId, withdrawn: true } });
    expect(await post(`/api/v1/resource-offers/${openId}/withdraw`, withdrawal)).toEqual({
      status: 409,
      json: { error: 'signed request was already used (replay refused); sign a fresh one' },
    });
    expect((await post('/api/v1/resource-offers', toWire(open))).json.error).toBe(`resource offer ${openId} was withdrawn; sign a new offer with a new nonce`);
    // A withdrawal signed for one offer does not withdraw another.
    const other = await signedResourceOffer();
    const otherId = resourceOfferId(testDomain, other.terms);
    await post('/api/v1/resource-offers', toWire(other));
    const misdirected = toWire(await signSolverRequest(providerA, testDomain, { party: providerA.address, action: 'withdraw-resource-offer', target: openId }));
    expect(await post(`/api/v1/resource-offers/${otherId}/withdraw`, misdirected)).toEqual({ status: 401, json: { error: 'signed request is for another target' } });
    // Nor can another provider withdraw it.
    const byB = toWire(await signSolverRequest(providerB, testDomain, { party: providerB.address, action: 'withdraw-resource-offer', target: otherId }));
    expect(await post(`/api/v1/resource-offers/${otherId}/withdraw`, byB)).toEqual({ status: 404, json: { error: `no resource offer ${otherId} of ${providerB.address}` } });
    // An expired or far-future request is refused too.
    const forOther = toWire(await signSolverRequest(providerA, testDomain, { party: providerA.address, action: 'withdraw-resource-offer', target: otherId })) as object;
    expect((await post(`/api/v1/resource-offers/${otherId}/withdraw`, { ...forOther, expiry: '1' })).json.error).toBe('signed request has expired; sign a fresh one');
    expect((await post(`/api/v1/resource-offers/${otherId}/withdraw`, { ...forOther, expiry: String(2n ** 64n) })).json.error).toBe(
      'signed request expires too late (at most 600 s ahead)',
    );
  });

  it("refuses subscriptions to another party's events and sends each party only its own", async () => {
    await start();
    // Provider B asks for provider A's deals, with B's own valid signature.
    const spy = await rawSubscribe(await subscribeAsProvider(providerB, providerA.address));
    expect(spy.replies[0]).toEqual({ type: 'error', error: `only resource provider ${providerA.address.toLowerCase()} may subscribe to its events` });

    const client = createSolverClient(solver!.url);
    const jobOffer = await signedJobOffer();
    const id = jobOfferId(testDomain, jobOffer.terms);
    // A stranger subscribes to the job offer before it is posted: allowed, but it will hear nothing of it.
    const strangerSocket = await rawSubscribe(await subscribeToJobOffer(stranger, id));
    const creatorEvents: DealEvent[] = [];
    const creatorSubscription = client.subscribe({ jobOffer: id, jobCreator: jobCreatorAccount.address, signer: jobCreatorAccount, domain: testDomain }, (e) => creatorEvents.push(e));
    const providerBSocket = await rawSubscribe(await subscribeAsProvider(providerB));
    const providerASubscription = await connectProvider(client, providerA);
    await creatorSubscription.ready;

    await client.postResourceOffer(await signedResourceOffer());
    await client.postJobOffer(jobOffer);
    await expect.poll(() => creatorEvents.map((e) => e.type)).toEqual(['deal:matched']);
    // The solver sent the match to everyone it told at once; a round trip through each other connection now
    // comes back after anything sent to it then, so what they got by its reply is all they got.
    for (const [subscriber, account] of [[strangerSocket, stranger], [providerBSocket, providerB]] as const) {
      await roundTrip(subscriber, account);
      expect(subscriber.replies.map((reply) => reply.type)).toEqual(['subscribed', 'subscribed']);
    }
    // Once the offer is known, a stranger cannot even subscribe to it.
    const late = await rawSubscribe(await subscribeToJobOffer(stranger, id));
    expect(late.replies[0]).toEqual({ type: 'error', error: `job offer ${id} is not ${stranger.address}'s: only its job creator may subscribe to it` });
    for (const s of [creatorSubscription, providerASubscription]) s.close();
  });

  it('answers a one-line 400, never a 500, for numbers out of bounds', async () => {
    await start();
    const offer = toWire(await signedResourceOffer()) as { terms: Record<string, unknown> };
    const withPrice = (price: unknown) => ({ ...offer, terms: { ...offer.terms, price } });
    expect(await post('/api/v1/resource-offers', withPrice('1'.repeat(1000)))).toEqual({
      status: 400,
      json: { error: 'resource offer is malformed at terms.price: expected a whole number of at most 78 digits' },
    });
    expect(await post('/api/v1/resource-offers', withPrice('9'.repeat(78)))).toEqual({
      status: 400,
      json: { error: 'resource offer is malformed at terms.price: must be at most 2^256 - 1 (a uint256)' },
    });
    const job = toWire(await signedJobOffer()) as { terms: Record<string, unknown> };
    expect(await post('/api/v1/job-offers', { ...job, terms: { ...job.terms, maxPrice: '1'.repeat(1000) } })).toEqual({
      status: 400,
      json: { error: 'job offer is malformed at terms.maxPrice: expected a whole number of at most 78 digits' },
    });
    // A 1000-digit JSON number, not a string.
    const raw = JSON.stringify(withPrice(0)).replace('"price":0', `"price":${'1'.repeat(1000)}`);
    const response = await fetch(solver!.url + '/api/v1/resource-offers', { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^resource offer is malformed at terms\.price: [^\n]+$/);
    // Within uint256 but more than the deal contract could ever lock: matched, it could only fail.
    const dear = await signedResourceOffer({ terms: { price: 2n ** 96n } });
    expect(await post('/api/v1/resource-offers', toWire(dear))).toEqual({
      status: 400,
      json: { error: `resource offer price is more than the deal contract holds (at most ${2n ** 96n - 1n} wei)` },
    });
    const collateral = await signedResourceOffer({ terms: { price: 2n ** 90n, collateralMultiple: 2n ** 10n } });
    expect((await post('/api/v1/resource-offers', toWire(collateral))).json.error).toMatch(/^resource offer collateral \(price × collateralMultiple\) is more than/);
    const endless = await signedJobOffer({ terms: { submitTimeout: 2n ** 200n } });
    expect(await post('/api/v1/job-offers', toWire(endless))).toEqual({ status: 400, json: { error: `job offer submitTimeout is longer than ${2n ** 32n} s` } });
    // Signed requests too, over HTTP and WebSocket.
    const request = toWire(await signSolverRequest(providerA, testDomain, { party: providerA.address, action: 'subscribe-resource-provider' })) as object;
    const hugeNonce = { ...request, nonce: '9'.repeat(78) };
    expect((await rawSubscribe({ subscribe: { resourceProvider: providerA.address }, auth: hugeNonce })).replies[0]).toEqual({
      type: 'error',
      error: 'signed request is malformed at nonce: must be at most 2^256 - 1 (a uint256)',
    });
    expect(await post(`/api/v1/resource-offers/0x${'00'.repeat(32)}/withdraw`, { ...request, expiry: '1'.repeat(1000) })).toEqual({
      status: 400,
      json: { error: 'signed request is malformed at expiry: expected a whole number of at most 78 digits' },
    });
  });

  it('refuses oversized bodies and messages, and keeps serving', async () => {
    await start({ maxBodyBytes: 16 * 1024 });
    const huge = await signedJobOffer({ inputs: { Message: 'x'.repeat(32 * 1024) } });
    expect(await post('/api/v1/job-offers', toWire(huge))).toEqual({ status: 413, json: { error: 'request body too large' } });
    const socket = new WebSocket(solver!.url.replace('http', 'ws') + '/api/v1/events');
    sockets.push(socket);
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send('x'.repeat(128 * 1024));
    expect(await closed).toBe(1009); // message too big
    expect((await post('/api/v1/job-offers', toWire(await signedJobOffer()))).status).toBe(202);
  });

  it('rate-limits per address and per IP, and caps subscribers, with a clear error', async () => {
    await start({ rateLimits: { perAddress: { rate: 0.01, burst: 3 }, perIp: { rate: 0.01, burst: 20 } }, maxSubscribers: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await post('/api/v1/job-offers', toWire(await signedJobOffer()))).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    const refused = await post('/api/v1/job-offers', toWire(await signedJobOffer()));
    expect(refused.json.error).toMatch(new RegExp(`^too many requests from ${jobCreatorAccount.address}; retry in \\d+ ms$`));
    // Another address is still served.
    expect((await post('/api/v1/job-offers', toWire(await signedJobOffer({}, stranger)))).status).toBe(202);

    // Subscribers beyond the cap are turned away at the door.
    await rawSubscribe(await subscribeAsProvider(providerA));
    await rawSubscribe(await subscribeAsProvider(providerB));
    const third = new WebSocket(solver!.url.replace('http', 'ws') + '/api/v1/events');
    sockets.push(third);
    const status = await new Promise<number>((resolve) => third.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)));
    expect(status).toBe(503);

    // Unsigned requests count against the IP.
    const gets: number[] = [];
    for (let i = 0; i < 20; i += 1) gets.push((await fetch(`${solver!.url}/api/v1/deals/0x${'00'.repeat(32)}`)).status);
    expect(gets).toContain(429);
    const limited = await fetch(`${solver!.url}/api/v1/deals/0x${'00'.repeat(32)}`);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(((await limited.json()) as { error: string }).error).toMatch(/^too many requests from 127\.0\.0\.1; retry in \d+ ms$/);
  });

  it('drops a subscriber that never reads, and keeps serving the others', async () => {
    await start({ maxSendBufferBytes: 256 * 1024, maxBodyBytes: 1024 * 1024 });
    const client = createSolverClient(solver!.url);
    // The greedy subscriber is provider A itself, which stops reading its socket (on a second connection:
    // the first keeps it connected, so that its offer is still matched once the greedy one is gone).
    const providerASubscription = client.subscribe({ resourceProvider: providerA.address, signer: providerA, domain: testDomain, events: ['job:unmatched'] }, () => undefined);
    await providerASubscription.ready;
    const greedy = await rawSubscribe(await subscribeAsProvider(providerA));
    expect(greedy.replies[0]).toMatchObject({ type: 'subscribed' });
    const greedyClosed = new Promise<void>((resolve) => greedy.socket.once('close', () => resolve()));
    (greedy.socket as unknown as { _socket: { pause(): void } })._socket.pause();

    await client.postResourceOffer(await signedResourceOffer({ terms: { capacity: 1000n } }));
    const started = Date.now();
    for (let i = 0; i < 100 && !logLines.some((line) => line.includes('subscriber does not read its events')); i += 1) {
      // Each deal event carries the job offer's 180 KiB of inputs to provider A.
      const big = `${i}`.padEnd(60 * 1024, 'm');
      const jobOffer = await signedJobOffer({ inputs: { A: big, B: big, C: big } });
      expect((await client.postJobOffer(jobOffer)).state).toBe('matched');
    }
    expect(logLines.some((line) => line.includes('subscriber does not read its events; disconnected'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
    // The others are still served, events included.
    const jobOffer = await signedJobOffer();
    const creatorEvents: DealEvent[] = [];
    const subscription = client.subscribe(
      { jobOffer: jobOfferId(testDomain, jobOffer.terms), jobCreator: jobCreatorAccount.address, signer: jobCreatorAccount, domain: testDomain },
      (e) => creatorEvents.push(e),
    );
    await subscription.ready;
    expect((await client.postJobOffer(jobOffer)).state).toBe('matched');
    await expect.poll(() => creatorEvents.map((e) => e.type)).toEqual(['deal:matched']);
    subscription.close();
    const again = await rawSubscribe(await subscribeAsProvider(providerB));
    expect(again.replies[0]).toMatchObject({ type: 'subscribed' });
    (greedy.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    await greedyClosed;
    providerASubscription.close();
  });
});
