/**
 * A solver stopped and started again on the same SQLite file carries on: resource offers (with the
 * capacity they have used), waiting job offers, deals and their states, and the nonces it has spent;
 * open deals are read from the chain again on start.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hex } from 'viem';
import { jobCreatorAccount, providerAccounts, signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { connectProvider, startEscrowChain, type EscrowChain } from '../../test/fixtures/solver.js';
import type { DealEvent, OnChainDealView } from '../protocol/deals.js';
import { jobOfferId, toWire } from '../protocol/offers.js';
import { createSolverClient } from './client.js';
import { signSolverRequest } from './requests.js';
import { createSolver, type Solver } from './solver.js';

let dir: string;
let solver: Solver | undefined;
const chain = new Map<Hex, OnChainDealView['state']>();
let escrowChain: EscrowChain;

beforeAll(async () => {
  escrowChain = await startEscrowChain();
});

afterAll(async () => {
  await escrowChain.stop();
});

function startSolver(dbPath: string, port?: number): Promise<Solver> {
  solver = createSolver({ dbPath, port }, {
    domain: testDomain,
    freeEscrow: escrowChain.freeEscrow,
    readDeal: async (dealId) => ({ state: chain.get(dealId) ?? 'none', resultCid: chain.get(dealId) === 'results-submitted' ? 'bafyresult' : '' }) as OnChainDealView,
  });
  return solver.start().then(() => solver!);
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-solver-db-'));
  chain.clear();
});

afterEach(async () => {
  await solver?.stop();
  await rm(dir, { recursive: true, force: true });
});

const get = async (url: string) => (await fetch(url)).json() as Promise<any>;

describe('solver persistence', () => {
  it('keeps offers, deals, their states and spent nonces across a restart, and re-syncs open deals from the chain', async () => {
    const dbPath = path.join(dir, 'solver.db');
    let running = await startSolver(dbPath);
    const port = Number(new URL(running.url).port);
    let client = createSolverClient(running.url);
    const providerSubscription = await connectProvider(client);
    await client.postResourceOffer(await signedResourceOffer({ terms: { capacity: 2n } }));
    const matchedJob = await signedJobOffer();
    const agreedJob = await signedJobOffer();
    const waitingJob = await signedJobOffer({ machine: { cpu: 100, gpu: 1000, ram: 64 } });
    const [matchedId, agreedId, waitingId] = [matchedJob, agreedJob, waitingJob].map((o) => jobOfferId(testDomain, o.terms)) as [Hex, Hex, Hex];
    expect((await client.postJobOffer(matchedJob)).state).toBe('matched');
    expect((await client.postJobOffer(agreedJob)).state).toBe('matched');
    expect(await client.postJobOffer(waitingJob)).toMatchObject({ state: 'pending' });
    const subscribe = toWire(await signSolverRequest(providerAccounts[0]!, testDomain, { party: providerAccounts[0]!.address, action: 'subscribe-resource-provider' }));

    // The chain moves on while the solver is down.
    await running.stop();
    chain.set(agreedId, 'results-submitted');
    running = await startSolver(dbPath, port);
    client = createSolverClient(running.url);

    expect((await client.getDeal(matchedId)).state).toBe('matched');
    const agreed = await client.getDeal(agreedId);
    expect(agreed).toMatchObject({ state: 'results-submitted', resultCid: 'bafyresult' });
    expect(agreed.jobOffer.inputs).toEqual({ Message: 'moo' });
    expect(await get(`${running.url}/api/v1/job-offers/${waitingId}`)).toEqual({
      id: waitingId,
      state: 'pending',
      reason: 'no offer fits: 1 offer has no capacity left',
    });
    // The offer's capacity stays used: a third job waits too, and a matched offer posted again is refused.
    expect(await client.postJobOffer(await signedJobOffer())).toMatchObject({ state: 'pending', reason: 'no offer fits: 1 offer has no capacity left' });
    await expect(client.postJobOffer(matchedJob)).rejects.toThrow(/was already matched into a deal/);

    // A waiting job offer is matched by an offer that arrives after the restart, and its creator hears of it.
    const events: DealEvent[] = [];
    const subscription = client.subscribe({ jobOffer: waitingId, jobCreator: jobCreatorAccount.address, signer: jobCreatorAccount, domain: testDomain }, (e) => events.push(e));
    await subscription.ready;
    const secondProvider = await connectProvider(client, providerAccounts[1]);
    await client.postResourceOffer(await signedResourceOffer({ details: { machine: { cpu: 4000, gpu: 2000, ram: 4096 } } }, providerAccounts[1]));
    await expect.poll(() => events.map((e) => e.type)).toContain('deal:matched');
    subscription.close();
    secondProvider.close();
    providerSubscription.close();

    // A nonce spent before the restart is still spent.
    const socket = new (await import('ws')).default(running.url.replace('http', 'ws') + '/api/v1/events');
    const reply = await new Promise<any>((resolve) => {
      socket.on('open', () => socket.send(JSON.stringify({ subscribe: { resourceProvider: providerAccounts[0]!.address }, auth: subscribe })));
      socket.on('message', (data) => resolve(JSON.parse(String(data))));
    });
    expect(reply.type).toBe('subscribed');
    socket.terminate();
    await running.stop();
    running = await startSolver(dbPath, port);
    const replay = new (await import('ws')).default(running.url.replace('http', 'ws') + '/api/v1/events');
    const refused = await new Promise<any>((resolve) => {
      replay.on('open', () => replay.send(JSON.stringify({ subscribe: { resourceProvider: providerAccounts[0]!.address }, auth: subscribe })));
      replay.on('message', (data) => resolve(JSON.parse(String(data))));
    });
    expect(refused).toEqual({ type: 'error', error: 'signed request was already used (replay refused); sign a fresh one' });
    replay.terminate();
  });

  it('a subscriber reconnects by itself after the solver restarts, and is told the current state', async () => {
    const dbPath = path.join(dir, 'solver.db');
    let running = await startSolver(dbPath);
    const port = Number(new URL(running.url).port);
    const client = createSolverClient(running.url);
    const provider = await connectProvider(client);
    await client.postResourceOffer(await signedResourceOffer());
    const job = await signedJobOffer();
    const id = jobOfferId(testDomain, job.terms);
    const events: DealEvent[] = [];
    let closed = false;
    const subscription = client.subscribe({ jobOffer: id, jobCreator: jobCreatorAccount.address, signer: jobCreatorAccount, domain: testDomain }, (e) => events.push(e), () => (closed = true));
    await subscription.ready;
    await client.postJobOffer(job);
    await expect.poll(() => events.map((e) => e.type)).toEqual(['deal:matched']);
    await running.stop();
    chain.set(id, 'agreed');
    running = await startSolver(dbPath, port);
    await expect.poll(() => events.map((e) => e.type), { timeout: 5000 }).toEqual(['deal:matched', 'deal:agreed']);
    expect(closed).toBe(false);
    subscription.close();
    provider.close();
  });
});
