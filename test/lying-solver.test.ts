/**
 * A solver that lies to a resource provider, tried for real: a real `lilypad resource-provider` process on a
 * real chain (anvil, the deployed contracts) subscribes to a fake solver (an HTTP and WebSocket server here
 * that speaks the solver's protocol). Colluding with a job creator, the solver tells the provider of deals
 * whose resource offer is the provider's own with its terms swapped (collateral multiple 50, no least submit
 * time), with the job creator's acceptance of exactly those terms. The provider must never put collateral
 * behind terms it did not sign; a genuine deal sent after them is agreed as usual, which shows the provider
 * read the forged ones first. A deal whose job offer another provider agreed first (its job creator accepted
 * two matches) is marked failed and locks nothing. Every figure is an exact escrow balance read from the chain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agreeDeal, ANVIL_DEV_PRIVATE_KEYS, getDeal } from '../src/chain/index.js';
import { startDealsKit, type DealsKit } from '../src/chain/testing.js';
import { signJobOffer } from '../src/job-creator/run-job.js';
import { createModuleResolver } from '../src/module/resolve.js';
import type { Deal } from '../src/protocol/deals.js';
import { matchAcceptanceTypedData, parseResourceOffer, resourceOfferId, toWire, type OfferDomain, type ResourceOffer } from '../src/protocol/offers.js';
import { WebSocketServer, type WebSocket } from 'ws';
import { cliPath, storedDeal } from './helpers.js';

const PRICE = parseEther('1');

let kit: DealsKit;
let domain: OfferDomain;
let server: Server;
let solverUrl: string;
let provider: ChildProcess;
let dataDir: string;
const providerKey = generatePrivateKey();
const jobCreatorKey = generatePrivateKey();
const mediator = ANVIL_DEV_PRIVATE_KEYS[4];
/** What the provider posted, and its subscription, as the fake solver saw them. */
let posted: (offer: ResourceOffer) => void;
const firstOffer = new Promise<ResourceOffer>((resolve) => (posted = resolve));
let subscribed: (socket: WebSocket) => void;
const subscription = new Promise<WebSocket>((resolve) => (subscribed = resolve));
const providerLog: string[] = [];

beforeAll(async () => {
  kit = await startDealsKit();
  domain = { chainId: kit.chainId, dealsAddress: kit.deals };
  const rp = kit.clientsFor(providerKey).walletClient.account.address;
  const jc = kit.clientsFor(jobCreatorKey).walletClient.account.address;
  await kit.fundParty(rp, { eth: parseEther('1'), escrow: parseEther('100') });
  await kit.fundParty(jc, { escrow: parseEther('20') });

  const wss = new WebSocketServer({ noServer: true });
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      response.setHeader('content-type', 'application/json');
      if (request.method === 'POST' && request.url === '/api/v1/resource-offers') {
        const offer = parseResourceOffer(JSON.parse(body));
        posted(offer);
        response.statusCode = 201;
        response.end(JSON.stringify({ id: resourceOfferId(domain, offer.terms) }));
        return;
      }
      response.end('{}'); // syncs and the rest: nothing to say
    });
  });
  server.on('upgrade', (request, socket, head) => wss.handleUpgrade(request, socket, head, (ws) => {
    ws.on('message', () => {
      ws.send(JSON.stringify({ type: 'subscribed' }));
      subscribed(ws);
    });
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  solverUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  dataDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-lying-solver-'));
  provider = spawn(process.execPath, [cliPath, 'resource-provider'], {
    env: {
      ...process.env,
      WEB3_RPC_URL: kit.anvil.rpcUrl,
      WEB3_PRIVATE_KEY: providerKey,
      LILYPAD_DEALS_ADDRESS: kit.deals,
      SERVICE_SOLVER: solverUrl,
      SERVICE_MEDIATORS: kit.clientsFor(mediator).walletClient.account.address,
      LILYPAD_PRICE: '1',
      LILYPAD_COLLATERAL_MULTIPLE: '2',
      LILYPAD_CAPACITY: '4',
      LILYPAD_DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  createInterface({ input: provider.stdout! }).on('line', (line) => providerLog.push(line));
  createInterface({ input: provider.stderr! }).on('line', (line) => providerLog.push(line));
}, 60_000);

afterAll(async () => {
  if (provider && provider.exitCode === null) {
    provider.kill('SIGTERM');
    await new Promise((resolve) => provider.once('exit', resolve));
  }
  await new Promise((resolve) => server?.close(resolve));
  await kit?.stop();
  await rm(dataDir, { recursive: true, force: true });
}, 30_000);

/** A job offer of the colluding job creator, and its signed acceptance of `resourceOffer` as its match. */
async function dealFor(resourceOffer: ResourceOffer): Promise<Deal> {
  const jobCreator = kit.clientsFor(jobCreatorKey);
  const { offer, id } = await signJobOffer(
    { module: 'cowsay:v0.0.1', inputs: { Message: 'moo' }, maxPrice: parseEther('10'), mediators: resourceOffer.terms.mediators, resultsDir: dataDir },
    { chain: jobCreator, domain, modules: createModuleResolver() },
  );
  const rid = resourceOfferId(domain, resourceOffer.terms);
  const matchAcceptance = await jobCreator.walletClient.signTypedData(matchAcceptanceTypedData(domain, id, rid));
  return { dealId: id, resourceOfferId: rid, state: 'matched', jobOffer: offer, resourceOffer, matchAcceptance };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; provider log:\n${providerLog.slice(-20).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The provider's own offer, the fake solver's connection to it, its address and its free escrow now. */
async function providerUnderTest() {
  const genuine = await firstOffer;
  const rp = genuine.terms.resourceProvider as Address;
  return { genuine, socket: await subscription, rp, before: await kit.freeEscrow(rp) };
}

describe('a deal whose job offer another provider agreed first', () => {
  it('is marked failed and locks nothing', async () => {
    const { genuine, socket, rp, before } = await providerUnderTest();

    // The job creator accepted two matches for one job offer, and the other provider agreed first.
    const deal = await dealFor(genuine);
    const other = kit.clientsFor(generatePrivateKey());
    const otherAddress = other.walletClient.account.address;
    await kit.fundParty(otherAddress, { eth: parseEther('1'), escrow: parseEther('10') });
    const otherOffer = kit.resourceOffer(otherAddress, { mediators: genuine.terms.mediators });
    await agreeDeal(other, {
      deals: kit.deals,
      jobOffer: deal.jobOffer.terms,
      jobCreatorSignature: deal.jobOffer.signature,
      resourceOffer: otherOffer,
      matchAcceptance: await kit.signMatch(kit.clientsFor(jobCreatorKey), deal.jobOffer.terms, otherOffer),
    });

    socket.send(JSON.stringify(toWire({ type: 'deal:matched', deal })));
    await waitFor('the provider to drop the deal', async () => providerLog.find((line) => line.includes('belongs to another provider') && line.includes(deal.dealId)));
    expect(storedDeal(dataDir, deal.dealId)).toMatchObject({ stage: 'failed', error: `the job offer was agreed with another provider (${otherAddress})` });
    // The deal on chain is still the other provider's, and this provider's free escrow did not move.
    expect(await getDeal(kit.publicClient, { deals: kit.deals, dealId: deal.dealId })).toMatchObject({ state: 'agreed', resourceProvider: otherAddress });
    expect(await kit.freeEscrow(rp)).toBe(before);
  });
});

describe('a solver colluding with a job creator', () => {
  it('cannot make the provider lock collateral on terms it did not sign; the genuine deal after them is agreed', async () => {
    const { genuine, socket, rp, before } = await providerUnderTest();

    const swappedTerms = { ...genuine.terms, collateralMultiple: 50n, minSubmitTimeout: 0n };
    const forged = await dealFor({ ...genuine, terms: swappedTerms });
    // Its own offer's id under a forged copy: the terms are the genuine ones, the id claims another offer.
    const relabelled = { ...(await dealFor(genuine)), resourceOfferId: resourceOfferId(domain, swappedTerms) };
    // A genuine match told under another deal id: agreed under one id and followed under the other, its
    // collateral would be lost to the submit timeout.
    const misnamedMatch = await dealFor(genuine);
    const misnamed = { ...misnamedMatch, dealId: `0x${'ab'.repeat(32)}` as Hex };
    const honest = await dealFor(genuine);
    for (const deal of [forged, relabelled, misnamed, honest]) socket.send(JSON.stringify(toWire({ type: 'deal:matched', deal })));

    await waitFor('the genuine deal to be agreed', async () => (await getDeal(kit.publicClient, { deals: kit.deals, dealId: honest.dealId })) ?? undefined);
    expect(await getDeal(kit.publicClient, { deals: kit.deals, dealId: forged.dealId })).toBeNull();
    expect(await getDeal(kit.publicClient, { deals: kit.deals, dealId: relabelled.dealId })).toBeNull();
    expect(await getDeal(kit.publicClient, { deals: kit.deals, dealId: misnamedMatch.dealId })).toBeNull();
    expect(providerLog.filter((line) => line.includes('did not sign'))).toHaveLength(2);
    expect(providerLog.filter((line) => line.includes('is not its job offer'))).toHaveLength(1);
    // Only the genuine deal's collateral (price × 2) left the provider's free escrow.
    expect(before - (await kit.freeEscrow(rp))).toBe(2n * PRICE);
  });
});
