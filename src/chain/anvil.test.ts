import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestClient, http } from 'viem';
import { afterAll, describe, expect, it } from 'vitest';
import { ChainError } from '../lib/errors.js';
import { anvilsOnState, startAnvil, type AnvilInstance } from './anvil.js';
import { createLilypadPublicClient, fetchChainId } from './clients.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startAnvil', () => {
  const started: AnvilInstance[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(started.map((a) => a.stop()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('starts on a free loopback port, answers JSON-RPC, and is gone after stop()', async () => {
    const t0 = performance.now();
    const anvil = await startAnvil();
    const startMs = performance.now() - t0;
    started.push(anvil);
    expect(anvil.rpcUrl).toBe(`http://127.0.0.1:${anvil.port}`);
    expect(anvil.port).toBeGreaterThan(0);
    expect(startMs).toBeLessThan(2_000);
    expect(await fetchChainId(anvil.rpcUrl)).toBe(31337);
    expect(isAlive(anvil.pid)).toBe(true);

    await anvil.stop();
    expect(isAlive(anvil.pid)).toBe(false);
    await anvil.stop(); // harmless the second time
    await expect(fetchChainId(anvil.rpcUrl)).rejects.toThrow(ChainError);
  });

  it('runs two nodes side by side with a chosen chain id', async () => {
    const [a, b] = await Promise.all([startAnvil(), startAnvil({ chainId: 4242 })]);
    started.push(a!, b!);
    expect(a!.port).not.toBe(b!.port);
    expect(await fetchChainId(b!.rpcUrl)).toBe(4242);
    expect(b!.chainId).toBe(4242);
  });

  it('throws with anvil’s stderr when the process dies during start-up', async () => {
    const first = await startAnvil();
    started.push(first);
    const error = await startAnvil({ port: first.port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect((error as ChainError).message).toMatch(/anvil exited during start-up/);
    expect((error as ChainError).message).toMatch(/address already in use|Address in use|in use/i);
  });

  it('rejects when aborted and leaves no process behind', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled'));
    await expect(startAnvil({ signal: controller.signal })).rejects.toThrow('cancelled');
  });

  it('keeps the chain in stateFile across restarts', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lilypad-anvil-'));
    dirs.push(dir);
    const stateFile = path.join(dir, 'state.json');
    const first = await startAnvil({ stateFile });
    started.push(first);
    const client1 = createLilypadPublicClient({ rpcUrl: first.rpcUrl, chainId: first.chainId });
    await createTestClient({ mode: 'anvil', transport: http(first.rpcUrl) }).mine({ blocks: 2 });
    expect(await client1.getBlockNumber()).toBe(2n);
    await first.stop();

    const second = await startAnvil({ stateFile });
    started.push(second);
    const client2 = createLilypadPublicClient({ rpcUrl: second.rpcUrl, chainId: second.chainId });
    expect(await client2.getBlockNumber()).toBe(2n);
  });

  it('keeps every block in stateFile, so that a SIGKILL of anvil loses nothing, and refuses a second node on it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lilypad-anvil-'));
    dirs.push(dir);
    const stateFile = path.join(dir, 'state.json');
    const first = await startAnvil({ stateFile });
    started.push(first);
    const error = await startAnvil({ stateFile }).catch((e: unknown) => e);
    expect((error as ChainError).code).toBe('chain-state-in-use');
    expect((error as ChainError).message).toContain(`in use by anvil (pid ${first.pid})`);
    expect(anvilsOnState(stateFile)).toEqual([first.pid]);

    const receiver = '0x00000000000000000000000000000000000000aa';
    const testClient = createTestClient({ mode: 'anvil', transport: http(first.rpcUrl) });
    await testClient.setBalance({ address: receiver, value: 12345n });
    await testClient.mine({ blocks: 3 });
    const client1 = createLilypadPublicClient({ rpcUrl: first.rpcUrl, chainId: first.chainId });
    const head = await client1.getBlockNumber();
    // The file follows the chain block by block; wait for the last block to be written, then kill anvil.
    const savedBlock = () => { try { return BigInt(JSON.parse(readFileSync(stateFile, 'utf8')).block.number); } catch { return -1n; } };
    while (savedBlock() < head) await new Promise((r) => setTimeout(r, 10));
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    expect(anvilsOnState(stateFile)).toEqual([]);

    const second = await startAnvil({ stateFile });
    started.push(second);
    const client2 = createLilypadPublicClient({ rpcUrl: second.rpcUrl, chainId: second.chainId });
    expect(await client2.getBlockNumber()).toBe(head);
    expect(await client2.getBalance({ address: receiver })).toBe(12345n);
  });

  it('mines on an interval with blockTime', async () => {
    const anvil = await startAnvil({ blockTime: 1 });
    started.push(anvil);
    const client = createLilypadPublicClient({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId });
    const start = await client.getBlockNumber();
    await new Promise((r) => setTimeout(r, 2_200));
    expect(await client.getBlockNumber()).toBeGreaterThan(start);
  });
});
