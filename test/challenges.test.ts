/**
 * Challenges with real processes on a real chain: `lilypad stack up` (chain, solver, mediator, an honest
 * provider), a second mediator, and cheating providers from test/doubles/ (the honest provider code with
 * a lying executor). Jobs reach the provider under test through the mediators they share: the cheats
 * trust only the second mediator, the honest provider only the stack's; a module allowlist separates the
 * two cheats. Every figure is an exact escrow balance read from the chain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEther, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, createLilypadPublicClient, fund, getDeal } from '../src/chain/index.js';
import { cliPath, freeEscrows, runCli, startReadyProcess, stopProcesses } from './helpers.js';

const doubles = fileURLToPath(new URL('./doubles/', import.meta.url));
const PRICE = parseEther('1');
const COLLATERAL = 2n * PRICE;
const FEE = parseEther('0.1');

const keys = { wrongOutput: ANVIL_DEV_PRIVATE_KEYS[2], copier: ANVIL_DEV_PRIVATE_KEYS[5], panelMediator: ANVIL_DEV_PRIVATE_KEYS[9] };
const addressOf = (key: Hex) => privateKeyToAccount(key).address;

let dir: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];
const startProcess = (script: string, args: string[], childEnv: Record<string, string>) => startReadyProcess(children, script, args, childEnv);
let mediatorDir: string;
/** Where the copying cheat takes the result it passes off as its own. */
let copySource: string;

async function dealOnChain(dealId: Hex) {
  return getDeal(createLilypadPublicClient({ rpcUrl: env.WEB3_RPC_URL!, chainId: 31337 }), { deals: env.LILYPAD_DEALS_ADDRESS as Address, dealId });
}

const balances = (accounts: Record<string, Address>) =>
  freeEscrows(createLilypadPublicClient({ rpcUrl: env.WEB3_RPC_URL!, chainId: 31337 }), env.LILYPAD_DEALS_ADDRESS as Address, accounts);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-challenges-'));
  const up = await runCli(['stack', 'up', '--dir', dir, '--providers', '1']);
  expect(up.code).toBe(0);
  env = JSON.parse((await runCli(['stack', 'env', '--dir', dir, '--json'])).stdout);

  const deployer = await connectChain({ rpcUrl: env.WEB3_RPC_URL!, privateKey: ANVIL_DEV_PRIVATE_KEYS[0], chainId: 31337 });
  const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, token: env.LILYPAD_TOKEN_ADDRESS as Address, deals: env.LILYPAD_DEALS_ADDRESS as Address };
  for (const key of [keys.wrongOutput, keys.copier]) await fund({ ...faucet, to: addressOf(key), eth: parseEther('1'), escrow: parseEther('100') });
  await fund({ ...faucet, to: addressOf(keys.panelMediator), eth: parseEther('1') });

  const chainEnv = { WEB3_RPC_URL: env.WEB3_RPC_URL!, LILYPAD_DEALS_ADDRESS: env.LILYPAD_DEALS_ADDRESS!, SERVICE_SOLVER: env.SERVICE_SOLVER! };
  mediatorDir = path.join(dir, 'second-mediator');
  copySource = path.join(dir, 'copy-source');
  await startProcess(cliPath, ['mediator', '--data-dir', mediatorDir], { ...chainEnv, WEB3_PRIVATE_KEY: keys.panelMediator });
  const cheatEnv = { ...chainEnv, SERVICE_MEDIATORS: addressOf(keys.panelMediator), LILYPAD_PRICE: PRICE.toString(), LILYPAD_COLLATERAL_MULTIPLE: '2' };
  await startProcess(path.join(doubles, 'cheating-provider.mjs'), ['--policy', 'wrong-output'], {
    ...cheatEnv,
    WEB3_PRIVATE_KEY: keys.wrongOutput,
    LILYPAD_MODULES: 'cowsay:v0.0.1',
    LILYPAD_DATA_DIR: path.join(dir, 'wrong-output'),
  });
  await startProcess(path.join(doubles, 'cheating-provider.mjs'), ['--policy', 'copy'], {
    ...cheatEnv,
    WEB3_PRIVATE_KEY: keys.copier,
    LILYPAD_MODULES: 'spin:v0.0.1',
    LILYPAD_DATA_DIR: path.join(dir, 'copier'),
    LILYPAD_COPY_FROM: copySource,
  });
}, 120_000);

afterAll(async () => {
  await stopProcesses(children);
  await runCli(['stack', 'down', '--dir', dir]);
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('a cheating provider that is challenged', () => {
  it('returns a wrong output: `lilypad run --verify` catches it; its collateral goes to the job creator, the fee to the mediator', async () => {
    const accounts = { jobCreator: addressOf(env.WEB3_PRIVATE_KEY as Hex), provider: addressOf(keys.wrongOutput), mediator: addressOf(keys.panelMediator) };
    const before = await balances(accounts);
    const run = await runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=cheat', '--verify', '--output-dir', path.join(dir, 'results')], {
      ...env,
      SERVICE_MEDIATORS: accounts.mediator,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('🔁 Re-ran the job here: got bafy');
    expect(run.stdout).toContain('⚖️  Results challenged. Mediator');
    expect(run.stdout).toContain('🚨 Mediator ruled the results wrong');
    const after = await balances(accounts);
    expect(after.jobCreator - before.jobCreator).toBe(COLLATERAL - FEE);
    expect(after.provider - before.provider).toBe(-COLLATERAL);
    expect(after.mediator - before.mediator).toBe(FEE);

    // The mediator kept both results, by deal id; it fetches the provider's after ruling and writes ruling.json last.
    const [dealId] = readdirSync(path.join(mediatorDir, 'deals'));
    const kept = path.join(mediatorDir, 'deals', dealId!);
    for (const started = Date.now(); !existsSync(path.join(kept, 'ruling.json')) && Date.now() - started < 20_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await readFile(path.join(kept, 'provider', 'stdout'), 'utf8')).toContain('trust me');
    expect(await readFile(path.join(kept, 'mediator', 'stdout'), 'utf8')).toContain('< cheat >');
    expect(JSON.parse(await readFile(path.join(kept, 'ruling.json'), 'utf8'))).toMatchObject({ dealId, resultsCorrect: false });
  });

  it("skips the work and returns a copy of another deal's honest result: challenged and slashed; the job creator loses nothing", async () => {
    const state = JSON.parse(await readFile(path.join(dir, 'stack.json'), 'utf8'));
    // First an honest result, of another job (Rounds=1), run by the stack's honest provider.
    const honest = await runCli(['run', 'spin:v0.0.1', '-i', 'Rounds=1', '--json', '--output-dir', path.join(dir, 'results')], env);
    expect(honest.code, honest.stderr).toBe(0);
    const honestResult = JSON.parse(honest.stdout);
    expect(honestResult.stdout).toContain('spun 1 million rounds');
    await expect.poll(async () => (await dealOnChain(honestResult.dealId))?.state, { timeout: 30_000 }).toBe('results-accepted');
    await cp(honestResult.dir, copySource, { recursive: true });

    const accounts = {
      jobCreator: addressOf(env.WEB3_PRIVATE_KEY as Hex),
      provider: addressOf(keys.copier),
      mediator: addressOf(keys.panelMediator),
      honestProvider: addressOf(state.keys.providers[0]),
    };
    const before = await balances(accounts);
    const run = await runCli(['run', 'spin:v0.0.1', '-i', 'Rounds=2', '--verify', '--json', '--output-dir', path.join(dir, 'results')], {
      ...env,
      SERVICE_MEDIATORS: accounts.mediator,
    });
    expect(run.stderr).toBe('');
    const cheated = JSON.parse(run.stdout);
    expect(cheated).toMatchObject({ state: 'mediation-rejected' });
    // What the copier submitted is the honest deal's result, CID for CID: a real copy, not made up.
    const onChain = await dealOnChain(cheated.dealId);
    expect(onChain?.resourceProvider.toLowerCase()).toBe(accounts.provider.toLowerCase());
    expect(onChain?.resultCid).toBe(honestResult.cid);
    const after = await balances(accounts);
    // The job creator gets its price back and the copier's collateral, less the fee: it loses nothing.
    expect(after.jobCreator - before.jobCreator).toBe(COLLATERAL - FEE);
    expect(after.provider - before.provider).toBe(-COLLATERAL);
    expect(after.mediator - before.mediator).toBe(FEE);
    // The provider whose result was copied is not touched by the cheat's deal.
    expect(after.honestProvider).toBe(before.honestProvider);
  });
});

describe('an honest provider that is challenged', () => {
  it('is paid and keeps its collateral; the job creator that challenged pays the fee (lazy job creator, then `lilypad challenge`)', async () => {
    const state = JSON.parse(await readFile(path.join(dir, 'stack.json'), 'utf8'));
    const accounts = { jobCreator: addressOf(env.WEB3_PRIVATE_KEY as Hex), provider: addressOf(state.keys.providers[0]), mediator: addressOf(state.keys.mediator) };
    const before = await balances(accounts);
    const lazy = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(doubles, 'job-creator.mjs'), '--policy', 'lazy', 'cowsay:v0.0.1', 'Message=honest'], {
        env: { ...process.env, ...env, LILYPAD_MODULE_ORG: 'file:///nonexistent/lilypad-module-{name}' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk) => (out += chunk));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`lazy job creator exited ${code}`))));
    });
    const { dealId, state: submitted } = JSON.parse(lazy);
    expect(submitted).toBe('results-submitted');

    const challenge = await runCli(['challenge', dealId], env);
    expect(challenge.stderr).toBe('');
    expect(challenge.code).toBe(0);
    expect(challenge.stdout).toContain('⚖️  Results challenged. Mediator');
    expect(challenge.stdout).toContain('🧑‍⚖️ Mediator ruled the results right');
    const after = await balances(accounts);
    expect(after.jobCreator - before.jobCreator).toBe(-PRICE - FEE);
    expect(after.provider - before.provider).toBe(PRICE);
    expect(after.mediator - before.mediator).toBe(FEE);
    // Right results leave nothing behind at the mediator.
    expect(existsSync(path.join(dir, 'mediator', 'deals', dealId))).toBe(false);

    const again = await runCli(['challenge', dealId], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/cannot be challenged: it was already mediated \(mediation-accepted\)/);
  });
});

describe('a job creator whose own disk fails', () => {
  it('does not take it for a bad result: no challenge, no fee, exit 1, and `lilypad get` fetches the result later', async () => {
    const state = JSON.parse(await readFile(path.join(dir, 'stack.json'), 'utf8'));
    const accounts = { jobCreator: addressOf(env.WEB3_PRIVATE_KEY as Hex), mediator: addressOf(state.keys.mediator) };
    const before = await balances(accounts);
    // The output folder is a file: the result cannot be written here.
    const blocked = path.join(dir, 'not-a-folder');
    await writeFile(blocked, 'in the way\n');
    const run = await runCli(['run', 'cowsay:v0.0.1', '-i', 'Message=disk', '--output-dir', blocked], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Error: could not write the result bafy\w+ of deal 0x[0-9a-f]{64}: .*nothing was challenged/);
    expect(run.stdout).not.toContain('challenged');
    const id = /`lilypad get (0x[0-9a-f]{64})`/.exec(run.stderr)?.[1];
    expect(id).toBeDefined();
    // The deal waits, paid for, unchallenged; the mediator earned nothing.
    const onChain = await dealOnChain(id as Hex);
    expect(onChain?.state).toBe('results-submitted');
    const after = await balances(accounts);
    expect(after.jobCreator - before.jobCreator).toBe(-PRICE);
    expect(after.mediator).toBe(before.mediator);

    const fetched = await runCli(['get', id!, '--output-dir', path.join(dir, 'results')], env);
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(fetched.stdout).toContain('< disk >');
  });
});
