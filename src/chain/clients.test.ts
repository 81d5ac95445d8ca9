import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ChainError } from '../lib/errors.js';
import { ANVIL_DEV_PRIVATE_KEYS } from './anvil.js';
import { connectChain, createLilypadWalletClient, fetchChainId, redactRpcUrl } from './clients.js';

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
