/**
 * Crashes in a stack of separate processes: `kill -9` of a resource provider in the middle of a job (the
 * restarted provider finishes the deal, or, restarted too late, ends it with the submit timeout), and
 * `kill -9` of the job creator's `lilypad run` (`lilypad get ID` finishes the job; with nobody coming back,
 * the provider settles once the judge window has passed). Each time the tokens end where the contract's rules
 * put them, read from the chain, and no deal is left open.
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
import { openDealStore } from '../src/resource-provider/deal-store.js';
import { cliPath, processesWithMarker, runCli, untilGone } from './helpers.js';

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

/** Million rounds of spin: seconds of work, so that a kill right after agreement lands in the middle of the job. */
const SLOW_ROUNDS = 3000;

/** kill -9 of the stack's provider; resolves once the process is gone. */
async function killProvider(): Promise<void> {
  const pid = await providerPid();
  process.kill(pid, 'SIGKILL');
  await untilGone([pid]);
}

/** How far the provider's own store says it got with a deal (read while the provider is down). */
function providerStage(dealId: Hex): string | undefined {
  const store = openDealStore(path.join(dir, 'resource-provider-1', 'provider.db'));
  try {
    return store.get(dealId)?.stage;
  } finally {
    store.close();
  }
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
  expect(providerStage(dealId)).toBe('agreed');
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
    await waitForState(id, 'agreed');
    await killProvider();

    // The kill came in the middle of the job: the deal was agreed and nothing was submitted, the provider
    // had recorded no result and had not logged the job's end. A job already over at the kill fails here.
    await expectKilledMidJob(id);

    const restarted = await runCli(['stack', 'restart', 'resource-provider-1', '--dir', dir]);
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
    await waitForState(id, 'agreed');
    await killProvider();
    await expectKilledMidJob(id);
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

  it('leaves no deal open', async () => {
    for (const id of dealIds) {
      const deal = await dealOnChain(id);
      expect(deal && isFinal(deal.state), `${id} is ${deal?.state}`).toBe(true);
    }
  });
});
