/**
 * A resource provider killed with kill -9 and never restarted stops getting jobs: at once it is not
 * matched (it is not connected), and after the solver's grace its offers are withdrawn. The provider is
 * the real `lilypad resource-provider` process; the chain is a real anvil.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { parseEther } from 'viem';
import { LP, startDealsKit, type DealsKit } from '../src/chain/testing.js';
import { chainReadDeal } from '../src/network/read-deal.js';
import { jobOfferId, type OfferDomain } from '../src/protocol/offers.js';
import { createSolverClient } from '../src/solver/client.js';
import { createSolver, type Solver } from '../src/solver/solver.js';
import { chainFreeEscrow } from '../src/solver/standing.js';
import { mediatorA, signedJobOffer } from './fixtures/offers.js';
import { cliPath } from './helpers.js';

let kit: DealsKit;
let solver: Solver;
let provider: ChildProcess | undefined;
let dataDir: string;

beforeAll(async () => {
  kit = await startDealsKit();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-provider-gone-'));
});

afterAll(async () => {
  provider?.kill('SIGKILL');
  await solver?.stop();
  await kit?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a provider that goes away', () => {
  it('killed and never restarted, it stops getting jobs after the grace', async () => {
    const domain: OfferDomain = { chainId: kit.chainId, dealsAddress: kit.deals };
    // The agreement timeout is long here, so that only the provider's absence is at work.
    solver = createSolver(
      { providerGraceMs: 1000, agreementTimeoutMs: 600_000 },
      { domain, readDeal: chainReadDeal(kit.publicClient, kit.deals), freeEscrow: chainFreeEscrow(kit.publicClient, kit.deals), signatureVerifier: kit.publicClient },
    );
    await solver.start();
    const client = createSolverClient(solver.url);
    const key = generatePrivateKey();
    await kit.fundParty(privateKeyToAccount(key).address, { eth: parseEther('1'), escrow: LP(100) });

    provider = spawn(process.execPath, [cliPath, 'resource-provider', '--data-dir', dataDir, '--port', '0', '--price', '1', '--cpu', '4000', '--ram', '4096'], {
      env: { ...process.env, WEB3_RPC_URL: kit.anvil.rpcUrl, WEB3_PRIVATE_KEY: key, SERVICE_SOLVER: solver.url, SERVICE_MEDIATORS: mediatorA, LILYPAD_DEALS_ADDRESS: kit.deals },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    provider.stdout!.resume();
    provider.stderr!.resume();
    const state = async (id: string) => (await fetch(`${solver.url}/api/v1/job-offers/${id}`).then((r) => r.json())) as { state: string; reason?: string };

    // While it runs, a job that fits its offer is matched to it (its offer arrives once it has started).
    const first = await signedJobOffer({ domain });
    const firstId = jobOfferId(domain, first.terms);
    expect((await client.postJobOffer(first)).state).toBe('pending');
    await expect.poll(async () => (await state(firstId)).state, { timeout: 60_000 }).toBe('matched');

    const exited = new Promise((resolve) => provider!.once('exit', resolve));
    provider.kill('SIGKILL');
    await exited;
    // Once the solver has seen its connection close (a moment after the kill), it is not matched...
    let secondId = '';
    await expect.poll(async () => {
      const posted = await client.postJobOffer(await signedJobOffer({ domain }));
      secondId = posted.id;
      return posted.state === 'pending' ? posted.reason : posted.state;
    }, { timeout: 10_000 }).toBe("no offer fits: 1 offer's provider is not connected");
    // ...and after the grace its offer is gone.
    await expect.poll(async () => (await state(secondId)).reason, { timeout: 10_000 }).toBe('no resource offers are posted');
    expect((await state(secondId)).state).toBe('pending');
    expect(await client.postJobOffer(await signedJobOffer({ domain }))).toMatchObject({ state: 'pending', reason: 'no resource offers are posted' });
  });
});
