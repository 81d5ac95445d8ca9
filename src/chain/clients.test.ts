import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestClient, http } from 'viem';
import { afterEach, describe, expect, it } from 'vitest';
import { ChainError } from '../lib/errors.js';
import { getDeal } from './index.js';
import { ANVIL_DEV_PRIVATE_KEYS, startAnvil } from './anvil.js';
import { connectChain, createLilypadPublicClient, createLilypadWalletClient, fetchChainId, onChainWait, redactRpcUrl } from './clients.js';

/** A loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('clients', () => {
  it('redacts credentials and query strings from RPC URLs', () => {
    expect(redactRpcUrl('https://alice:s3cret@rpc.example.org/v1?apikey=XYZ')).toBe('https://rpc.example.org/v1?…');
    expect(redactRpcUrl('http://127.0.0.1:8545')).toBe('http://127.0.0.1:8545');
    expect(redactRpcUrl('not a url')).toBe('<invalid URL>');
  });

  it('says which chain it cannot reach without leaking credentials', async () => {
    const url = `http://alice:s3cret@127.0.0.1:${await closedPort()}/?key=XYZ`;
    const error = await fetchChainId(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect((error as ChainError).code).toBe('rpc-unreachable');
    expect((error as ChainError).retryable).toBe(true);
    expect((error as ChainError).message).toMatch(/^cannot reach the chain at http:\/\/127\.0\.0\.1:\d+\?…: HTTP request failed; check the RPC URL$/);
    expect(JSON.stringify({ message: (error as ChainError).message, details: (error as ChainError).details })).not.toMatch(
      /s3cret|XYZ/,
    );
  });

  it('builds a wallet client with a local account and a chain from its id', async () => {
    const wallet = createLilypadWalletClient({
      rpcUrl: 'http://127.0.0.1:1',
      chainId: 4242,
      privateKey: ANVIL_DEV_PRIVATE_KEYS[0],
    });
    expect(wallet.account.type).toBe('local');
    expect(wallet.account.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    expect(wallet.chain.id).toBe(4242);
    const clients = await connectChain({ rpcUrl: 'http://127.0.0.1:1', chainId: 7, privateKey: ANVIL_DEV_PRIVATE_KEYS[1] });
    expect(clients.publicClient.chain.id).toBe(7);
  });

  it('rejects a malformed private key without echoing it', () => {
    const key = '0x1234nothex' as `0x${string}`;
    let error: unknown;
    try {
      createLilypadWalletClient({ rpcUrl: 'http://127.0.0.1:1', chainId: 1, privateKey: key });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChainError);
    expect(String((error as Error).message)).not.toContain('1234nothex');
  });
});

describe('a chain that stops answering', () => {
  afterEach(() => {
    onChainWait(() => undefined);
  });
  const deals = '0x00000000000000000000000000000000000000d1' as const;
  const dealId = `0x${'11'.repeat(32)}` as const;

  it('is waited for while it restarts, and the wait is reported', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lilypad-rpc-wait-'));
    const stateFile = path.join(dir, 'state.json');
    const first = await startAnvil({ stateFile });
    const client = createLilypadPublicClient({ rpcUrl: first.rpcUrl, chainId: first.chainId });
    await createTestClient({ mode: 'anvil', transport: http(first.rpcUrl) }).mine({ blocks: 2 });
    expect(await client.getBlockNumber({ cacheTime: 0 })).toBe(2n);
    const lines: string[] = [];
    onChainWait((line) => lines.push(line));
    process.kill(first.pid, 'SIGTERM'); // stopped from outside, as a restarted chain would be
    await first.exited;
    const read = client.getBlockNumber({ cacheTime: 0 });
    while (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const second = await startAnvil({ port: first.port, stateFile });
    try {
      expect(await read).toBe(2n);
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^the chain at ${first.rpcUrl} does not answer \\((ECONNREFUSED|ECONNRESET)\\); waiting up to 30 s for it$`));
      expect(lines[1]).toBe(`the chain at ${first.rpcUrl} answers again`);
    } finally {
      await second.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends a read with "does not answer" when it stays gone', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const client = createLilypadPublicClient({ rpcUrl: url, chainId: 31337, rpc: { waitMs: 1000 } });
    const error = await getDeal(client, { deals, dealId }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChainError);
    expect((error as ChainError).code).toBe('rpc-unreachable');
    expect((error as ChainError).message).toBe(`getDeal failed: the chain at ${url} does not answer (ECONNREFUSED, waited 1 s); check that it runs`);
  });

  it('times out a node that takes connections and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    try {
      const client = createLilypadPublicClient({ rpcUrl: url, chainId: 31337, rpc: { waitMs: 1000, timeoutMs: 300 } });
      const error = await getDeal(client, { deals, dealId }).catch((e: unknown) => e);
      expect((error as ChainError).message).toBe(`getDeal failed: the chain at ${url} does not answer (no answer within 0.3 s, waited 1 s); check that it runs`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('the request observer', () => {
  it('is told the method of every JSON-RPC request', async () => {
    const anvil = await startAnvil();
    try {
      const methods: string[] = [];
      const client = createLilypadPublicClient({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, rpc: { onRequest: (method) => methods.push(method) } });
      await client.getBlockNumber({ cacheTime: 0 });
      await client.getChainId();
      expect(methods).toEqual(['eth_blockNumber', 'eth_chainId']);
    } finally {
      await anvil.stop();
    }
  });
});
