/**
 * One job creator, several jobs at once on one job network (as the studio runs people's jobs): an embedded
 * network in this process, reached as a configured one (WEB3_RPC_URL and the rest), so that the job store,
 * the escrow check, the one wallet and the one results folder are all shared. Every job must end with its
 * own deal and its own result, the escrow must pay exactly one price per job, and two jobs with the same
 * module and inputs (the same result CID, so the same folder) must both read their result whole.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEther } from 'viem';
import { connectChain, escrowBalance, withdraw } from '../src/chain/index.js';
import { openJobNetwork, type JobNetwork } from '../src/job-creator/job-network.js';
import { openJobStore } from '../src/job-creator/job-store.js';
import { EMBEDDED_JOB_PRICE, startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { closeBlockstore, openBlockstore, type FsBlockstore } from '../src/storage/index.js';

let dir: string;
let embedded: EmbeddedNetwork;
let blockstore: FsBlockstore;
let network: JobNetwork;
const stopping = new AbortController();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-parallel-'));
  embedded = await startEmbeddedNetwork({ dataDir: path.join(dir, 'network') });
  blockstore = await openBlockstore(path.join(dir, 'blocks'));
  network = await openJobNetwork({
    env: {
      ...process.env,
      LILYPAD_JOBS_DB: path.join(dir, 'jobs.db'),
      WEB3_RPC_URL: embedded.rpcUrl,
      WEB3_PRIVATE_KEY: embedded.jobCreatorPrivateKey,
      SERVICE_SOLVER: embedded.solverUrl,
      SERVICE_MEDIATORS: embedded.mediators.join(','),
      LILYPAD_DEALS_ADDRESS: embedded.contracts.deals,
    },
    resultsDir: path.join(dir, 'results'),
    signal: stopping.signal,
    blockstore,
  });
}, 120_000);
afterAll(async () => {
  stopping.abort();
  await network?.close();
  if (blockstore) await closeBlockstore(blockstore);
  await embedded?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('jobs of one job creator at once', () => {
  it('each gets its own deal and its own result, and the escrow pays one price per job; the same job eight times reads its shared folder whole', async () => {
    const jobCreator = privateKeyToAccount(embedded.jobCreatorPrivateKey).address;
    const chain = await connectChain({ rpcUrl: embedded.rpcUrl, privateKey: embedded.jobCreatorPrivateKey, chainId: embedded.chainId });
    const escrow = async () => (await escrowBalance(chain.publicClient, { deals: embedded.contracts.deals, account: jobCreator })).free;
    const before = await escrow();

    const messages = ['one', 'two', 'three', ...Array(8).fill('same')];
    const results = await Promise.all(messages.map((Message) => network.run({ module: 'cowsay:v0.0.1', inputs: { Message }, maxPrice: EMBEDDED_JOB_PRICE * 2n })));

    results.forEach((result, i) => {
      expect(result.exitCode, messages[i]).toBe(0);
      expect(result.stdout, messages[i]).toContain(`< ${messages[i]} >`);
      expect(result.error).toBeUndefined();
    });
    expect(new Set(results.map((r) => r.dealId)).size).toBe(messages.length);
    // Deterministic jobs: the same inputs, the same CID and folder, read whole by each of them.
    const same = results.filter((_, i) => messages[i] === 'same');
    expect(new Set(same.map((r) => r.cid)).size).toBe(1);
    expect(await readFile(path.join(same[0]!.dir, 'stdout'), 'utf8')).toBe(same[0]!.stdout);
    expect(new Set(results.map((r) => r.cid)).size).toBe(4);

    // Each deal on chain is this job creator's at the provider's price, and that price, once per job, left its escrow.
    for (const result of results) {
      const deal = await embedded.readDeal(result.dealId);
      expect(deal.jobCreator).toBe(jobCreator);
      expect(deal.price).toBe(EMBEDDED_JOB_PRICE);
    }
    expect(before - (await escrow())).toBe(EMBEDDED_JOB_PRICE * BigInt(messages.length));

    // The job store has each of them, done, with its CID.
    const store = openJobStore(path.join(dir, 'jobs.db'));
    try {
      const stored = store.list();
      expect(stored).toHaveLength(messages.length);
      expect(stored.every((job) => job.stage === 'done')).toBe(true);
      expect(stored.map((job) => job.cid).sort()).toEqual(results.map((r) => r.cid).sort());
    } finally {
      store.close();
    }
  }, 120_000);

  it('keeps the escrow that running jobs may still lock: with room for two jobs, the third of three at once is refused at once, not left to expire', async () => {
    const jobCreator = privateKeyToAccount(embedded.jobCreatorPrivateKey).address;
    const chain = await connectChain({ rpcUrl: embedded.rpcUrl, privateKey: embedded.jobCreatorPrivateKey, chainId: embedded.chainId });
    const escrow = async () => (await escrowBalance(chain.publicClient, { deals: embedded.contracts.deals, account: jobCreator })).free;
    // Room for two jobs at the provider's price, not three.
    await withdraw(chain, { deals: embedded.contracts.deals, amount: (await escrow()) - parseEther('2.5') });

    const outcomes = await Promise.allSettled(
      ['a', 'b', 'c'].map((Message) => network.run({ module: 'cowsay:v0.0.1', inputs: { Message }, maxPrice: EMBEDDED_JOB_PRICE, offerTtlSeconds: 60 })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled').map((o) => (o as PromiseFulfilledResult<{ exitCode: number }>).value.exitCode)).toEqual([0, 0]);
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ code: 'escrow-too-small' });
    expect(refused[0].message).toBe(
      `the escrow of ${jobCreator} holds 2.5 LP (2 LP of it kept for the jobs running now), less than --max-price 1 LP: deposit LP into the deal contract (lilypad faucet ${jobCreator} on a local network), lower --max-price, or run fewer jobs at once`,
    );
    expect(await escrow()).toBe(parseEther('0.5'));
  }, 120_000);
});
