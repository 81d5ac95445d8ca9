/**
 * Signals and crashes of the processes the CLI starts: SIGINT or SIGTERM stops `lilypad run` (a job in
 * progress, on the embedded network) and `lilypad chain` cleanly, with the conventional status and one
 * line; kill -9 of either leaves no anvil behind; and a stack whose chain is killed (anvil itself, or its
 * `lilypad chain`) comes back with `stack down` / `stack up` with every payment it had.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestClient, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, describe, expect, it } from 'vitest';
import { createLilypadPublicClient, escrowBalance, getDeal } from '../src/chain/index.js';
import { anvilsOnState } from '../src/chain/anvil.js';
import { isAlive, readStack } from '../src/network/stack.js';
import { isFinal } from '../src/protocol/deal-states.js';
import { processesWithMarker, runCli, startCli, untilGone } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const isAnvil = (pid: number) => {
  try {
    return path.basename(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!) === 'anvil';
  } catch {
    return false;
  }
};
describe('lilypad run and signals', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s stops a run with a job in progress, and everything it started, anvil included', async (signal, status) => {
    const run = startCli(['run', 'spin:v0.0.1', '-i', 'Rounds=1000000']);
    await run.printed(/Deal agreed/);
    const started = processesWithMarker(run.marker);
    const anvil = started.find(isAnvil);
    expect(anvil).toBeDefined();
    run.child.kill(signal);
    const result = await run.exited;
    expect(result.code).toBe(status);
    expect(result.stderr).toBe(`lilypad: stopped by ${signal}\n`);
    expect(isAlive(anvil!)).toBe(false);
    expect(processesWithMarker(run.marker)).toEqual([]);
  }, 60_000);

  it('kill -9 of lilypad run leaves no anvil behind', async () => {
    const run = startCli(['run', 'spin:v0.0.1', '-i', 'Rounds=1000000']);
    await run.printed(/Deal agreed/);
    const anvil = processesWithMarker(run.marker).find(isAnvil);
    expect(anvil).toBeDefined();
    run.child.kill('SIGKILL');
    expect((await run.exited).signal).toBe('SIGKILL');
    await untilGone([anvil!]);
    expect(processesWithMarker(run.marker)).toEqual([]);
  }, 60_000);
});

describe('lilypad chain and signals', () => {
  async function startChain(stateFile: string) {
    const chain = startCli(['chain', '--state', stateFile]);
    await chain.printed(/"ready":"chain"/);
    const ready = JSON.parse(chain.output().stdout.split('\n').find((line) => line.startsWith('{"ready"'))!);
    return { chain, url: ready.url as string, anvilPid: ready.anvilPid as number };
  }
  const blockNumber = (url: string) => createLilypadPublicClient({ rpcUrl: url, chainId: 31337 }).getBlockNumber({ cacheTime: 0 });

  it('SIGTERM stops the chain (143, one line) and its anvil, which saves its state', async () => {
    const stateFile = path.join(await tempDir('lilypad-chain-'), 'state.json');
    const { chain, url, anvilPid } = await startChain(stateFile);
    await createTestClient({ mode: 'anvil', transport: http(url) }).mine({ blocks: 3 });
    chain.child.kill('SIGTERM');
    const result = await chain.exited;
    expect(result.code).toBe(143);
    expect(result.stderr).toBe('lilypad: stopped by SIGTERM\n');
    expect(isAlive(anvilPid)).toBe(false);
    expect(BigInt(JSON.parse(await readFile(stateFile, 'utf8')).block.number)).toBe(3n);
  }, 30_000);

  it('kill -9 of lilypad chain ends its anvil too, and a second chain on its state is refused while one runs', async () => {
    const stateFile = path.join(await tempDir('lilypad-chain-'), 'state.json');
    const first = await startChain(stateFile);
    const second = await runCli(['chain', '--state', stateFile]);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `Error: the chain state ${stateFile} is in use by anvil (pid ${first.anvilPid}); stop that chain first (\`lilypad stack down\`, or kill ${first.anvilPid})\n`,
    );
    await createTestClient({ mode: 'anvil', transport: http(first.url) }).mine({ blocks: 2 });
    first.chain.child.kill('SIGKILL');
    await first.chain.exited;
    await untilGone([first.anvilPid]);
    expect(anvilsOnState(stateFile)).toEqual([]);

    const again = await startChain(stateFile);
    expect(await blockNumber(again.url)).toBe(2n);
    again.chain.child.kill('SIGINT');
    expect((await again.chain.exited).code).toBe(130);
  }, 30_000);
});

describe('a stack whose chain is killed', () => {
  let dir: string;
  let marker = '';
  afterAll(async () => {
    if (!dir) return;
    await runCli(['stack', 'down', '--dir', dir]);
    if (marker) expect(processesWithMarker(marker)).toEqual([]);
  });

  async function up(): Promise<Record<string, string>> {
    const started = await runCli(['stack', 'up', '--dir', dir, '--providers', '1']);
    expect(started.code, started.stderr).toBe(0);
    marker = started.marker;
    return JSON.parse((await runCli(['stack', 'env', '--dir', dir, '--json'])).stdout);
  }

  /** What the chain says about the deal and both parties' escrow, once the deal has ended. */
  async function onChain(env: Record<string, string>, dealId: Hex) {
    const client = createLilypadPublicClient({ rpcUrl: env.WEB3_RPC_URL!, chainId: 31337 });
    const deals = env.LILYPAD_DEALS_ADDRESS as Address;
    const state = (await readStack(dir))!;
    const escrow = async (key: Hex) => escrowBalance(client, { deals, account: privateKeyToAccount(key).address });
    let deal = await getDeal(client, { deals, dealId });
    while (!deal || !isFinal(deal.state)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      deal = await getDeal(client, { deals, dealId });
    }
    return { deal, jobCreator: await escrow(state.keys.jobCreator), provider: await escrow(state.keys.providers[0]!), block: await client.getBlockNumber({ cacheTime: 0 }) };
  }

  async function runJob(env: Record<string, string>, message: string): Promise<Hex> {
    const run = await runCli(['run', 'cowsay:v0.0.1', '-i', `Message=${message}`, '--json', '--output-dir', path.join(dir, 'results')], env);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout).dealId as Hex;
  }

  it.each(['anvil', 'lilypad chain'] as const)('kill -9 of %s, then stack down and up, loses no payment and runs one chain', async (victim) => {
    dir ??= await tempDir('lilypad-stack-kill-');
    const env = await up();
    const dealId = await runJob(env, victim);
    const before = await onChain(env, dealId);
    const chainEntry = (await readStack(dir))!.processes.find((p) => p.name === 'chain')!;
    expect(chainEntry.anvilPid).toBeDefined();
    const stateFile = path.join(dir, 'chain-state.json');
    // The chain writes each block to its state file as it is mined; the last one is there before the kill.
    while (BigInt(JSON.parse(await readFile(stateFile, 'utf8')).block.number) < before.block) await new Promise((r) => setTimeout(r, 20));

    process.kill(victim === 'anvil' ? chainEntry.anvilPid! : chainEntry.pid, 'SIGKILL');
    await untilGone([chainEntry.anvilPid!]);
    const status = JSON.parse((await runCli(['stack', 'status', '--dir', dir, '--json'])).stdout);
    expect(status.processes.find((p: { name: string }) => p.name === 'chain')).toMatchObject({ running: false, state: 'stopped' });

    expect((await runCli(['stack', 'down', '--dir', dir])).code).toBe(0);
    const envAgain = await up();
    expect(envAgain.LILYPAD_DEALS_ADDRESS).toBe(env.LILYPAD_DEALS_ADDRESS);
    expect(anvilsOnState(stateFile)).toHaveLength(1);
    const after = await onChain(envAgain, dealId);
    expect(after.deal).toEqual(before.deal);
    expect(after.jobCreator).toEqual(before.jobCreator);
    expect(after.provider).toEqual(before.provider);
    expect(after.block).toBe(before.block);
    expect((await runCli(['stack', 'down', '--dir', dir])).code).toBe(0);
  }, 180_000);

  it('a chain killed in the middle of a job ends lilypad run with "does not answer", never a hang', async () => {
    dir ??= await tempDir('lilypad-stack-kill-');
    const env = await up();
    const run = startCli(['run', 'spin:v0.0.1', '-i', 'Rounds=1000000'], { ...env, LILYPAD_RPC_WAIT: '2' });
    await run.printed(/Deal agreed/);
    process.kill((await readStack(dir))!.processes.find((p) => p.name === 'chain')!.anvilPid!, 'SIGKILL');
    const result = await run.exited;
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^lilypad: the chain at http:\/\/127\.0\.0\.1:\d+ does not answer \((ECONNREFUSED|ECONNRESET)\); waiting up to 2 s for it$/);
    expect(lines.at(-1)).toMatch(/^Error: \w+ failed: the chain at http:\/\/127\.0\.0\.1:\d+ does not answer \((ECONNREFUSED|ECONNRESET), waited 2 s\); check that it runs \(this may be temporary: trying again may work\)$/);
    expect((await runCli(['stack', 'down', '--dir', dir])).code).toBe(0);
  }, 180_000);
});
