/**
 * Crashes in a stack of separate processes: `kill -9` of a resource provider in the middle of a job (the
 * restarted provider finishes the deal, or, restarted too late, ends it with the submit timeout), and
 * `kill -9` of the job creator's `lilypad run` (`lilypad get ID` finishes the job; with nobody coming back,
 * the provider settles once the judge window has passed). Each time the tokens end where the contract's rules
 * put them, read from the chain, and no deal is left open.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLilypadPublicClient, escrowBalance, getDeal } from '../src/chain/index.js';
import { isFinal } from '../src/protocol/deal-states.js';
import { readStack } from '../src/network/stack.js';
import { cliPath, processesWithMarker, runCli } from './helpers.js';

let dir: string;
let env: Record<string, string>;
let marker: string;
let jobCreator: Address;
let provider: Address;
const dealIds: Hex[] = [];
const price = parseEther('1');
const collateral = 2n * price;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-faults-'));
  // Providers that accept short submit timeouts, so that a timeout can be seen within a test.
  const up = await runCli(['stack', 'up', '--dir', dir, '--providers', '1'], { LILYPAD_MIN_SUBMIT_TIMEOUT: '1' });
  marker = up.marker;
  expect(up.code, up.stderr).toBe(0);
  env = { ...JSON.parse((await runCli(['stack', 'env', '--dir', dir, '--json'])).stdout), LILYPAD_JOBS_DB: path.join(dir, 'jobs.db') };
  const state = (await readStack(dir))!;
  jobCreator = privateKeyToAccount(state.keys.jobCreator).address;
  provider = privateKeyToAccount(state.keys.providers[0]!).address;
}, 120_000);

afterAll(async () => {
  await runCli(['stack', 'down', '--dir', dir]);
  expect(processesWithMarker(marker)).toEqual([]);
  await rm(dir, { recursive: true, force: true });
});

const publicClient = () => createLilypadPublicClient({ rpcUrl: env.WEB3_RPC_URL!, chainId: 31337 });
const dealOnChain = (dealId: Hex) => getDeal(publicClient(), { deals: env.LILYPAD_DEALS_ADDRESS as Address, dealId });
const freeEscrow = async (account: Address) =>
  (await escrowBalance(publicClient(), { deals: env.LILYPAD_DEALS_ADDRESS as Address, account })).free;
const balances = async () => ({ jobCreator: await freeEscrow(jobCreator), provider: await freeEscrow(provider) });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const waitForState = (dealId: Hex, state: string, timeoutMs?: number) =>
  waitFor(`deal ${dealId} to be ${state}`, async () => (await dealOnChain(dealId))?.state === state, timeoutMs);

async function providerPid(): Promise<number> {
  return (await readStack(dir))!.processes.find((p) => p.name === 'resource-provider-1')!.pid;
}

async function detach(args: string[]): Promise<Hex> {
  const posted = await runCli(['run', ...args, '--detach', '--json'], env);
  expect(posted.code, posted.stderr).toBe(0);
  const id = JSON.parse(posted.stdout).id as Hex;
  dealIds.push(id);
  return id;
}

/** `lilypad run` as a child process that the test can kill. */
function startRun(args: string[]) {
  const child = spawn(process.execPath, [cliPath, 'run', ...args], {
    env: { ...process.env, ...env, LILYPAD_TEST_MARKER: marker, LILYPAD_MODULE_ORG: 'file:///nonexistent/lilypad-module-{name}' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return { child, exited };
}

async function recordedJobs(): Promise<Array<{ id: Hex; stage: string }>> {
  const listed = await runCli(['jobs', '--json'], env);
  return listed.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

describe('faults', () => {
  it('kill -9 of a resource provider in the middle of a job: restarted, it runs the job again and is paid', async () => {
    const before = await balances();
    const id = await detach(['spin:v0.0.1', '-i', 'Rounds=1500']);
    await waitForState(id, 'agreed');
    process.kill(await providerPid(), 'SIGKILL');

    const restarted = await runCli(['stack', 'restart', 'resource-provider-1', '--dir', dir]);
    expect(restarted.code, restarted.stderr).toBe(0);
    const got = await runCli(['get', id, '--json'], env);
    expect(got.code, got.stderr).toBe(0);
    const result = JSON.parse(got.stdout);
    expect(result.stdout).toContain('spun 1500 million rounds');
    expect(result.exitCode).toBe(0);

    await waitForState(id, 'results-accepted');
    expect(await balances()).toEqual({ jobCreator: before.jobCreator - price, provider: before.provider + price });
  }, 90_000);

  it('kill -9 of a resource provider that comes back after the submit deadline: it ends the deal and the job creator gets price and collateral', async () => {
    const before = await balances();
    const id = await detach(['spin:v0.0.1', '-i', 'Rounds=1500', '--submit-timeout', '2']);
    await waitForState(id, 'agreed');
    process.kill(await providerPid(), 'SIGKILL');
    const { deadline } = (await dealOnChain(id))!;
    await waitFor('the submit deadline to pass', async () => Date.now() / 1000 > Number(deadline) + 1);

    expect((await runCli(['stack', 'restart', 'resource-provider-1', '--dir', dir])).code).toBe(0);
    await waitForState(id, 'submit-timed-out');
    expect(await balances()).toEqual({ jobCreator: before.jobCreator + collateral, provider: before.provider - collateral });
    const got = await runCli(['get', id], env);
    expect(got.code).toBe(1);
    expect(got.stderr).toContain('did not submit results in time');
  }, 90_000);

  it('kill -9 of lilypad run in the middle of a job: lilypad get ID finishes it', async () => {
    const before = await balances();
    const known = new Set((await recordedJobs()).map((job) => job.id));
    const run = startRun(['spin:v0.0.1', '-i', 'Rounds=1500']);
    const job = await waitFor('the job to be recorded and agreed', async () => {
      const fresh = (await recordedJobs()).find((j) => !known.has(j.id));
      return fresh && (await dealOnChain(fresh.id))?.state === 'agreed' ? fresh : undefined;
    });
    dealIds.push(job.id);
    run.child.kill('SIGKILL');
    await run.exited;

    const got = await runCli(['get', job.id.slice(0, 14)], env);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain('🍂 Lilypad job completed');
    expect(got.stdout).toContain('spun 1500 million rounds');
    await waitForState(job.id, 'results-accepted');
    expect(await balances()).toEqual({ jobCreator: before.jobCreator - price, provider: before.provider + price });
    expect((await recordedJobs()).find((j) => j.id === job.id)?.stage).toBe('done');
  }, 90_000);

  it('kill -9 of lilypad run, and nobody comes back: the provider settles once the judge window has passed', async () => {
    const before = await balances();
    const known = new Set((await recordedJobs()).map((job) => job.id));
    const run = startRun(['spin:v0.0.1', '-i', 'Rounds=500', '--judge-window', '2']);
    const job = await waitFor('the job to be recorded', async () => (await recordedJobs()).find((j) => !known.has(j.id)));
    dealIds.push(job.id);
    await waitForState(job.id, 'agreed');
    run.child.kill('SIGKILL');
    await run.exited;

    await waitForState(job.id, 'results-accepted', 30_000);
    expect(await balances()).toEqual({ jobCreator: before.jobCreator - price, provider: before.provider + price });
  }, 90_000);

  it('leaves no deal open', async () => {
    for (const id of dealIds) {
      const deal = await dealOnChain(id);
      expect(deal && isFinal(deal.state), `${id} is ${deal?.state}`).toBe(true);
    }
  });
});
