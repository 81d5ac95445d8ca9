/**
 * viem clients for one EVM JSON-RPC URL: a public client for reads and a wallet client with a local
 * account (the private key never leaves this process). RPC URLs are shown without credentials.
 */
import { writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import path from 'node:path';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Account,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ChainError } from '../lib/errors.js';

export type LilypadPublicClient = PublicClient<Transport, Chain>;
export type LilypadWalletClient = WalletClient<Transport, Chain, Account>;

/** What a write action needs: a wallet to sign and send, a public client to wait for the receipt. */
export interface ChainClients {
  publicClient: LilypadPublicClient;
  walletClient: LilypadWalletClient;
}

export interface ClientOptions {
  rpcUrl: string;
  chainId: number;
  /** How often to poll for receipts and blocks (ms). Default 50 on loopback, 1000 elsewhere. */
  pollingInterval?: number;
}

export interface WalletClientOptions extends ClientOptions {
  privateKey: Hex;
}

/** Removes user, password and query string (where API keys tend to live) from a URL for messages. */
export function redactRpcUrl(rpcUrl: string): string {
  try {
    const url = new URL(rpcUrl);
    const path = url.pathname === '/' ? '' : url.pathname;
    return `${url.protocol}//${url.host}${path}${url.search ? '?…' : ''}`;
  } catch {
    return '<invalid URL>';
  }
}

/** Replaces every appearance of `rpcUrl` in `text` with its redacted form. */
export function redactRpcUrlIn(text: string, rpcUrl: string): string {
  return text.split(rpcUrl).join(redactRpcUrl(rpcUrl)).replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//');
}

/**
 * The HTTP transport for an RPC URL. With `LILYPAD_RPC_STATS_DIR` set, every JSON-RPC call is counted by
 * method and the counts are written to `<dir>/<pid>.json` each second (the stack benchmark reads them).
 */
function rpcTransport(rpcUrl: string): Transport {
  const transport = http(rpcUrl, { retryCount: 1, fetchFn: rpcUrl.startsWith('http:') ? plainHttpFetch : undefined });
  const statsDir = process.env.LILYPAD_RPC_STATS_DIR;
  if (!statsDir) return transport;
  return ((options: Parameters<Transport>[0]) => {
    const inner = transport(options);
    const request = inner.request;
    return { ...inner, request: ((args: { method: string }, requestOptions?: unknown) => {
      rpcCounts[args.method] = (rpcCounts[args.method] ?? 0) + 1;
      startStatsWriter(statsDir);
      return (request as (a: unknown, o: unknown) => Promise<unknown>)(args, requestOptions);
    }) as typeof request };
  }) as Transport;
}

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 64 });

/**
 * The little of `fetch` that viem's JSON-RPC client uses (a POST with a string body; status, headers and
 * text of the answer), over `node:http` with kept-alive connections. A JSON-RPC call through undici's
 * `fetch` costs about 1 ms of CPU here; this is a fraction of that, and every role makes many.
 */
const plainHttpFetch = ((input: string | URL, init?: RequestInit): Promise<Response> =>
  new Promise((resolve, reject) => {
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) return reject(signal.reason);
    const headers = init?.headers as Record<string, string> | undefined;
    const body = typeof init?.body === 'string' ? init.body : '';
    const request = httpRequest(input, {
      method: init?.method ?? 'POST',
      agent: keepAlive,
      headers: { ...headers, 'content-length': Buffer.byteLength(body) },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        const text = Buffer.concat(chunks).toString('utf8');
        const status = response.statusCode ?? 0;
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (typeof value === 'string') responseHeaders.set(name, value);
        }
        resolve({
          ok: status >= 200 && status < 300,
          status,
          statusText: response.statusMessage ?? '',
          headers: responseHeaders,
          body: null,
          text: async () => text,
          json: async () => JSON.parse(text),
        } as unknown as Response);
      });
    });
    const onAbort = () => {
      request.destroy();
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(new TypeError('fetch failed', { cause: error }));
    });
    request.end(body);
  })) as typeof fetch;

const rpcCounts: Record<string, number> = {};
let statsTimer: NodeJS.Timeout | undefined;
function startStatsWriter(dir: string): void {
  if (statsTimer) return;
  const write = () => {
    try {
      writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ argv: process.argv.slice(2, 3), counts: rpcCounts }));
    } catch {
      // statistics are best effort
    }
  };
  statsTimer = setInterval(write, 1000);
  statsTimer.unref();
  process.once('exit', write);
}

function isLoopback(rpcUrl: string): boolean {
  try {
    const host = new URL(rpcUrl).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  } catch {
    return false;
  }
}

/** A viem chain object for a chain id, with `rpcUrl` as its default RPC URL. */
export function chainFromId(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: chainId === 31337 ? 'Anvil' : `Chain ${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export function createLilypadPublicClient(options: ClientOptions): LilypadPublicClient {
  return createPublicClient({
    chain: chainFromId(options.chainId, options.rpcUrl),
    transport: rpcTransport(options.rpcUrl),
    pollingInterval: options.pollingInterval ?? (isLoopback(options.rpcUrl) ? 50 : 1000),
  });
}

/**
 * A wallet client with a local account. Nonces come from the node's pending count; the actions in this
 * folder send one transaction at a time per wallet client, so concurrent calls do not collide.
 */
export function createLilypadWalletClient(options: WalletClientOptions): LilypadWalletClient {
  let account: Account;
  try {
    account = privateKeyToAccount(options.privateKey);
  } catch (cause) {
    // The key itself must never appear in the message.
    throw new ChainError('the private key is not a 32-byte hex string (0x followed by 64 hex digits)', {
      code: 'invalid-private-key',
      cause: undefined,
      details: { reason: cause instanceof Error ? cause.name : 'invalid' },
    });
  }
  return createWalletClient({
    account,
    chain: chainFromId(options.chainId, options.rpcUrl),
    transport: rpcTransport(options.rpcUrl),
    pollingInterval: options.pollingInterval ?? (isLoopback(options.rpcUrl) ? 50 : 1000),
  });
}

/** Asks the node for its chain id; throws a ChainError (URL redacted) when it cannot be reached. */
export async function fetchChainId(rpcUrl: string): Promise<number> {
  const probe = createPublicClient({ transport: http(rpcUrl, { retryCount: 0 }) });
  try {
    return await probe.getChainId();
  } catch (cause) {
    const reason = (
      cause instanceof Error ? ((cause as { shortMessage?: string }).shortMessage ?? cause.message) : String(cause)
    ).replace(/\.$/, '');
    throw new ChainError(
      `cannot reach the chain at ${redactRpcUrl(rpcUrl)}: ${redactRpcUrlIn(reason, rpcUrl)}; check the RPC URL`,
      { code: 'rpc-unreachable', retryable: true, details: { rpcUrl: redactRpcUrl(rpcUrl) } },
    );
  }
}

export interface ConnectChainOptions {
  rpcUrl: string;
  privateKey: Hex;
  /** When omitted it is read from the node. */
  chainId?: number;
  pollingInterval?: number;
}

/** Public and wallet clients for an RPC URL and a private key. */
export async function connectChain(options: ConnectChainOptions): Promise<ChainClients & { chainId: number }> {
  const chainId = options.chainId ?? (await fetchChainId(options.rpcUrl));
  const clientOptions = { rpcUrl: options.rpcUrl, chainId, pollingInterval: options.pollingInterval };
  return {
    chainId,
    publicClient: createLilypadPublicClient(clientOptions),
    walletClient: createLilypadWalletClient({ ...clientOptions, privateKey: options.privateKey }),
  };
}
