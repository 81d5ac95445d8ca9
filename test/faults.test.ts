/**
 * Crashes in a stack of separate processes: `kill -9` of a resource provider in the middle of a job (the
 * restarted provider finishes the deal, or, restarted too late, ends it with the submit timeout), and
 * `kill -9` of the job creator's `lilypad run` (`lilypad get ID` finishes the job; with nobody coming back,
 * the provider settles once the judge window has passed). Each time the tokens end where the contract's rules
 * put them, read from the chain, and no deal is left open. A job that fails after agreement is paid like any
 * result, to the wei.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLilypadPublicClient, escrowBalance, getDeal } from '../src/chain/index.js';
import { isFinal } from '../src/protocol/deal-states.js';
import { readStack } from '../src/network/stack.js';
import { cliPath, processesWithMarker, runCli, spinModuleWithTimeout, storedDeal, untilGone } from './helpers.js';

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
  // Providers that accept short submit timeouts, so that a timeout can be seen within a test, and modules
  // from local folders in this test's folder.
  // Settings of stack up's environment; stack restart starts a service with them again.
  const up = await runCli(['stack', 'up', '--dir', dir, '--providers', '1'], { LILYPAD_MIN_SUBMIT_TIMEOUT: '1', LILYPAD_MODULE_SOURCES: `public-https,file:${dir}` });
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

/** Million rounds of spin: seconds of work, so that a kill right after agreement lands in the middle of the job. */
const SLOW_ROUNDS = 3000;

/** `lilypad stack restart` of the provider, from a shell without the settings: it keeps those of `stack up`. */
const restartProvider = () => runCli(['stack', 'restart', 'resource-provider-1', '--dir', dir]);

/**
 * kill -9 of the stack's provider once it has recorded the deal as agreed, which it does right before it
 * starts the job (the chain says agreed a moment earlier, while the provider still waits for the receipt);
 * resolves once the process is gone.
 */
async function killProviderInJob(dealId: Hex): Promise<void> {
  await waitFor('the provider to record the agreement and start the job', async () => providerLog(dealId).includes('deal agreed'));
  const pid = await providerPid();
  process.kill(pid, 'SIGKILL');
  await untilGone([pid]);
}

/** The messages that the provider logged about a deal, in order, across its restarts. */
function providerLog(dealId: Hex): string[] {
  return readFileSync(path.join(dir, 'resource-provider-1.log'), 'utf8')
    .split('\n')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { dealId?: string; msg?: string };
        return entry.dealId?.toLowerCase() === dealId.toLowerCase() && entry.msg ? [entry.msg] : [];
      } catch {
        return [];
      }
    });
}

/** What shows that a provider killed after agreement died in the middle of the job, not after it. */
async function expectKilledMidJob(dealId: Hex): Promise<void> {
  expect(await dealOnChain(dealId)).toMatchObject({ state: 'agreed', resultCid: '' });
  expect(storedDeal(path.join(dir, 'resource-provider-1'), dealId)?.stage).toBe('agreed');
  expect(providerLog(dealId)).toContain('deal agreed');
  expect(providerLog(dealId)).not.toContain('job ran');
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
    const id = await detach(['spin:v0.0.1', '-i', `Rounds=${SLOW_ROUNDS}`]);
    await killProviderInJob(id);

    // The kill came in the middle of the job: the deal was agreed and nothing was submitted, the provider
    // had recorded no result and had not logged the job's end. A job already over at the kill fails here.
    await expectKilledMidJob(id);

    const restarted = await restartProvider();
    expect(restarted.code, restarted.stderr).toBe(0);
    const got = await runCli(['get', id, '--json'], env);
    expect(got.code, got.stderr).toBe(0);
    const result = JSON.parse(got.stdout);
    expect(result.stdout).toContain(`spun ${SLOW_ROUNDS} million rounds`);
    expect(result.exitCode).toBe(0);
    // The job's one end is the restarted provider's run.
    expect(providerLog(id).filter((msg) => msg === 'job ran')).toHaveLength(1);

    await waitForState(id, 'results-accepted');
    expect(await balances()).toEqual({ jobCreator: before.jobCreator - price, provider: before.provider + price });
  }, 120_000);

  it('kill -9 of a resource provider that comes back after the submit deadline: it ends the deal and the job creator gets price and collateral', async () => {
    const before = await balances();
    const id = await detach(['spin:v0.0.1', '-i', `Rounds=${SLOW_ROUNDS}`, '--submit-timeout', '2']);
    await killProviderInJob(id);
    await expectKilledMidJob(id);
    const { deadline } = (await dealOnChain(id))!;
    await waitFor('the submit deadline to pass', async () => Date.now() / 1000 > Number(deadline) + 1);

    expect((await restartProvider()).code).toBe(0);
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
    const run = startRun(['spin:v0.0.1', '-i', `Rounds=${SLOW_ROUNDS}`, '--judge-window', '2']);
    const job = await waitFor('the job to be recorded', async () => (await recordedJobs()).find((j) => !known.has(j.id)));
    dealIds.push(job.id);
    await waitForState(job.id, 'agreed');
    run.child.kill('SIGKILL');
    await run.exited;
    // It died before the results came, so it never signed an acceptance: only the judge window can pay.
    expect((await dealOnChain(job.id))?.state).toBe('agreed');

    await waitForState(job.id, 'results-accepted', 30_000);
    expect(await balances()).toEqual({ jobCreator: before.jobCreator - price, provider: before.provider + price });
  }, 90_000);

  it('a job that fails after agreement (past its Timeout): the job creator pays the price, the provider is paid and gets its collateral back', async () => {
    const before = await balances();
    const moduleDir = await spinModuleWithTimeout(path.join(dir, 'spin-2s'), 2);
    const run = await runCli(['run', moduleDir, '-i', 'Rounds=100000000', '--judge-window', '2', '--json', '--output-dir', path.join(dir, 'results')], env);
    expect(run.code, run.stderr).toBe(1);
    const result = JSON.parse(run.stdout);
    dealIds.push(result.dealId);
    expect(result.exitCode).toBe(124);
    expect(result.error).toMatch(/Timeout|wall.clock/i);

    // Paid as any result once the judge window has passed: P from the job creator to the provider, whose
    // collateral is all free again.
    await waitForState(result.dealId, 'results-accepted');
    expect(await balances()).toEqual({ jobCreator: before.jobCreator - price, provider: before.provider + price });
  }, 90_000);

  it('leaves no deal open', async () => {
    for (const id of dealIds) {
      const deal = await dealOnChain(id);
      expect(deal && isFinal(deal.state), `${id} is ${deal?.state}`).toBe(true);
    }
  });
});
