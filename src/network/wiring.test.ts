import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDealsKit, type DealsKit } from '../chain/testing.js';
import type { Executor } from '../executor/types.js';
import { startRoles } from './wiring.js';

/** An executor that runs nothing and records that it was closed, and what `whenClosed` saw at that moment. */
function recordingExecutor(closed: string[], whenClosed: () => Promise<string | undefined> = async () => undefined): Executor {
  return {
    engine: 'wasm',
    isAvailable: async () => true,
    prepare: async () => undefined,
    run: async () => {
      throw new Error('not in this test');
    },
    close: async () => {
      const seen = await whenClosed();
      closed.push(seen === undefined ? 'executor' : `executor (${seen})`);
    },
  };
}

describe('startRoles', () => {
  let kit: DealsKit;
  let dir: string;
  beforeAll(async () => {
    kit = await startDealsKit();
    dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-wiring-'));
  });
  afterAll(async () => {
    await kit?.anvil.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('starts a solver, a mediator and a provider on one chain, and stop() ends them, the executors first', async () => {
    const closed: string[] = [];
    let solverUrl = '';
    // The roles still run when the executors close: a job running at a stop ends before its provider stops.
    const solverAnswers = async () => ((await fetch(solverUrl).then(() => true, () => false)) ? 'solver up' : 'solver down');
    const providerKey = generatePrivateKey();
    await kit.fundParty(privateKeyToAccount(providerKey).address, { eth: parseEther('1'), escrow: parseEther('10') });
    const mediatorKey = generatePrivateKey();
    const roles = await startRoles(
      {
        executorOwner: 'lilypad-wiring-test',
        solver: {},
        mediator: { privateKey: mediatorKey, dataDir: path.join(dir, 'mediator') },
        resourceProvider: {
          privateKey: providerKey,
          price: parseEther('1'),
          collateralMultiple: 2n,
          capacity: 1,
          machine: { cpu: 1000, gpu: 0, ram: 1024 },
          modules: [],
          mediators: [privateKeyToAccount(mediatorKey).address],
          dataDir: path.join(dir, 'provider'),
        },
      },
      { chain: { rpcUrl: kit.anvil.rpcUrl, chainId: kit.chainId, dealsAddress: kit.deals }, executors: Promise.resolve([recordingExecutor(closed, solverAnswers)]) },
    );
    expect(roles.resourceProvider?.address).toBe(privateKeyToAccount(providerKey).address);
    expect(roles.mediator?.address).toBe(privateKeyToAccount(mediatorKey).address);
    solverUrl = roles.solver!.url;
    expect((await fetch(solverUrl)).status).toBeLessThan(500);
    await roles.stop();
    expect(closed).toEqual(['executor (solver up)']);
    await expect(fetch(solverUrl)).rejects.toThrow();
    await roles.stop(); // harmless twice
  });

  it('refuses a role that needs a solver when none is started or named, and closes what it made', async () => {
    const closed: string[] = [];
    await expect(
      startRoles(
        { executorOwner: 'lilypad-wiring-test', mediator: { privateKey: generatePrivateKey(), dataDir: path.join(dir, 'lonely') } },
        { chain: { rpcUrl: kit.anvil.rpcUrl, chainId: kit.chainId, dealsAddress: kit.deals }, executors: Promise.resolve([recordingExecutor(closed)]) },
      ),
    ).rejects.toThrow('a role needs a solver');
    expect(closed).toEqual(['executor']);
  });
});
