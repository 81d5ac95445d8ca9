/**
 * The studio on a configured network: a job creator like any other, paying from WEB3_PRIVATE_KEY's escrow
 * on a network that runs apart from it; and on a network that cannot be reached, a job fails with the
 * reason and its credits come back.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectChain, escrowBalance } from '../src/chain/index.js';
import { COWSAY_MOO } from '../src/executor/conformance.js';
import { openJobStore } from '../src/job-creator/job-store.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { runCli } from './helpers.js';
import { freeBetaPayments } from '../src/studio/payments.js';
import { readEvents, startTestStudio, studioTestEnv, WebClient, type TestStudio } from './studio-helpers.js';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-studio-networks-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function keyFor(studio: TestStudio, email: string): Promise<Record<string, string>> {
  const added = await runCli(['studio', 'users', 'add', email, '--data-dir', studio.dataDir]);
  expect(added.code, added.stderr).toBe(0);
  const key = (await runCli(['studio', 'keys', 'create', email, '--data-dir', studio.dataDir])).stdout.trim();
  return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
}

describe('a studio on a configured network', () => {
  let network: EmbeddedNetwork;
  let studio: TestStudio;
  beforeAll(async () => {
    // A whole network of its own (chain, solver, provider, mediator); the studio only knows its addresses.
    network = await startEmbeddedNetwork();
    studio = await startTestStudio({
      env: {
        ...studioTestEnv(dataDir),
        WEB3_RPC_URL: network.rpcUrl,
        WEB3_PRIVATE_KEY: network.jobCreatorPrivateKey,
        SERVICE_SOLVER: network.solverUrl,
        SERVICE_MEDIATORS: network.mediators.join(','),
        LILYPAD_DEALS_ADDRESS: network.contracts.deals,
      },
    });
  });
  afterAll(async () => {
    await studio?.end();
    await network?.stop();
  });

  it('runs a person\'s job there and pays the provider from its own escrow', async () => {
    expect((await studio.network).identity).toBe(`chain ${network.chainId}, deal contract ${network.contracts.deals.toLowerCase()}`);
    const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
    const account = privateKeyToAccount(network.jobCreatorPrivateKey).address;
    const escrow = async () => (await escrowBalance(chain.publicClient, { deals: network.contracts.deals, account })).free;
    const before = await escrow();

    const auth = await keyFor(studio, 'ada@example.com');
    const posted = await fetch(`${studio.url}/api/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: 'moo' } }) });
    const { id } = (await posted.json()) as { id: string };
    const events = await readEvents(await fetch(`${studio.url}/api/v1/jobs/${id}/events`, { headers: auth }));
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { status: 'succeeded', stdout: COWSAY_MOO, lpPaid: parseEther('1').toString() } });
    expect(await escrow()).toBe(before - parseEther('1'));
    // Its records of the deal, and the result, are in its own folder.
    const deals = openJobStore(path.join(studio.dataDir, 'jobs.db'));
    expect(deals.list().map((job) => job.stage)).toEqual(['done']);
    deals.close();
    // The API shows the files by URL, never the studio's own paths.
    const { dir } = (await (await fetch(`${studio.url}/api/v1/jobs/${id}`, { headers: auth })).json()) as { dir?: string };
    expect(dir).toBeUndefined();
    expect(((await (await fetch(`${studio.url}/api/v1/account`, { headers: auth })).json()) as { credits: number }).credits).toBe(99);
  });
});

describe('a studio whose network cannot be reached', () => {
  let studio: TestStudio;
  beforeAll(async () => {
    const env = studioTestEnv(path.join(dataDir, 'unreachable'));
    studio = await startTestStudio({
      env: { ...env, WEB3_RPC_URL: 'http://127.0.0.1:9', WEB3_PRIVATE_KEY: '0x' + '11'.repeat(32), SERVICE_SOLVER: 'http://127.0.0.1:9', SERVICE_MEDIATORS: '0x' + '22'.repeat(20), LILYPAD_DEALS_ADDRESS: '0x' + '33'.repeat(20) },
      // One credit at sign-up: enough for cowsay, not for spin.
      payments: freeBetaPayments({ signupCredits: 1 }),
    });
  });
  afterAll(async () => {
    await studio?.end();
  });

  it('fails the job with the reason, and gives the reserved credits back; a job the balance cannot pay is refused, nothing charged', async () => {
    const web = new WebClient(studio.url);
    await web.signUp('ada@example.com', 'correct horse battery');
    const auth = { authorization: `Bearer ${await web.createKey('tests')}`, 'content-type': 'application/json' };
    const posted = await fetch(`${studio.url}/api/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: 'moo' } }) });
    const { id } = (await posted.json()) as { id: string };
    const events = await readEvents(await fetch(`${studio.url}/api/v1/jobs/${id}/events`, { headers: auth }));
    const result = events.at(-1)!;
    expect(result).toMatchObject({ event: 'result', data: { status: 'failed', refunded: true } });
    expect(result.data.error).toMatch(/127\.0\.0\.1:9|reach|connect|refused/i);
    const credits = async () => ((await (await fetch(`${studio.url}/api/v1/account`, { headers: auth })).json()) as { credits: number }).credits;
    expect(await credits()).toBe(1);

    const spin = await fetch(`${studio.url}/api/v1/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ module: 'spin:v0.0.1', inputs: { Rounds: '1' } }) });
    expect(spin.status).toBe(402);
    expect(await spin.json()).toEqual({ error: { code: 'insufficient-credits', message: 'spin:v0.0.1 costs 2 credits and you have 1: add credits first' } });
    expect(await credits()).toBe(1);
    expect(((await (await fetch(`${studio.url}/api/v1/jobs`, { headers: auth })).json()) as { jobs: unknown[] }).jobs).toHaveLength(1);
  });
});
