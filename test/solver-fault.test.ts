/**
 * `kill -9` of the solver in a stack of separate processes, in the middle of a job: `lilypad stack restart
 * solver` starts it again on the same SQLite file and port; the job started before the kill completes, the
 * job creator pays exactly the price, the restarted solver knows the deal and its state from the chain, and
 * the next job runs as usual.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLilypadPublicClient, escrowBalance } from '../src/chain/index.js';
import { isAlive } from '../src/network/stack.js';
import { processesWithMarker, runCli } from './helpers.js';

let dir: string;
let env: Record<string, string>;
let marker: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-solver-fault-'));
  const up = await runCli(['stack', 'up', '--dir', dir, '--providers', '1']);
  marker = up.marker;
  expect(up.code, up.stderr).toBe(0);
  env = JSON.parse((await runCli(['stack', 'env', '--dir', dir, '--json'])).stdout);
}, 120_000);

afterAll(async () => {
  await runCli(['stack', 'down', '--dir', dir]);
  expect(processesWithMarker(marker)).toEqual([]);
  await rm(dir, { recursive: true, force: true });
});

async function freeEscrow(account: Address): Promise<bigint> {
  const publicClient = createLilypadPublicClient({ rpcUrl: env.WEB3_RPC_URL!, chainId: 31337 });
  return (await escrowBalance(publicClient, { deals: env.LILYPAD_DEALS_ADDRESS as Address, account })).free;
}

const status = async () =>
  JSON.parse((await runCli(['stack', 'status', '--dir', dir, '--json'])).stdout) as { processes: { name: string; pid: number; running: boolean; log: string }[] };

describe('kill -9 of the solver', () => {
  it('a job started before the kill completes after the solver is restarted, with the tokens where the rules put them', async () => {
    const jobCreator = privateKeyToAccount(env.WEB3_PRIVATE_KEY as `0x${string}`).address;
    const before = await freeEscrow(jobCreator);
    const solver = (await status()).processes.find((p) => p.name === 'solver')!;
    const logBefore = readFileSync(solver.log, 'utf8').length;

    const run = runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=survivor', '--json', '--output-dir', path.join(dir, 'results')], env);
    // Kill the solver as soon as it has matched the job: the provider and the job creator are mid-deal.
    const deadline = Date.now() + 60_000;
    while (!readFileSync(solver.log, 'utf8').slice(logBefore).includes('"event":"deal:matched"')) {
      if (Date.now() > deadline) throw new Error('the solver never matched the job');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    process.kill(solver.pid, 'SIGKILL');
    while (isAlive(solver.pid)) await new Promise((resolve) => setTimeout(resolve, 10));

    const restart = await runCli(['stack', 'restart', 'solver', '--dir', dir]);
    expect(restart.code, restart.stderr).toBe(0);
    const restarted = (await status()).processes.find((p) => p.name === 'solver')!;
    expect(restarted.running).toBe(true);
    expect(restarted.pid).not.toBe(solver.pid);
    // It came back with the deal it had matched, and read it from the chain again.
    expect(readFileSync(solver.log, 'utf8').slice(logBefore)).toMatch(/"deals":[1-9]\d*,"msg":"re-synced open deals from the chain"/);

    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    const job = JSON.parse(result.stdout);
    expect(job.stdout).toContain('< survivor >');
    expect(BigInt(job.price)).toBe(parseEther('1'));
    expect(await freeEscrow(jobCreator)).toBe(before - parseEther('1'));

    // The restarted solver kept the deal (from its SQLite file) and caught up with the chain.
    const deal = await fetch(`${env.SERVICE_SOLVER}/api/v1/deals/${job.dealId}/sync`, { method: 'POST' }).then((r) => r.json());
    expect(deal.dealId).toBe(job.dealId);
    expect(['results-submitted', 'results-accepted']).toContain(deal.state);

    // And it carries on: the provider re-subscribed by itself, so the next job runs as usual.
    const next = await runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=after', '--json', '--output-dir', path.join(dir, 'results')], env);
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout).stdout).toContain('< after >');
    expect(await freeEscrow(jobCreator)).toBe(before - 2n * parseEther('1'));
  }, 180_000);
});
