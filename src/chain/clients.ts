/**
 * viem clients for one EVM JSON-RPC URL: a public client for reads and a wallet client with a local
 * account (the private key never leaves this process). RPC URLs are shown without credentials.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import {
  BaseError,
  HttpRequestError,
  TimeoutError,
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

/** How the transport treats the node; the CLI parses them once (`setRpcDefaults`) from its settings. */
export interface RpcSettings {
  /** How long one JSON-RPC request may take before it counts as not answered (ms); default 10 s. */
  timeoutMs?: number;
  /** How long a chain that does not answer is waited for before a call fails (ms); default 30 s. */
  waitMs?: number;
  /** Told the method of every JSON-RPC request before it is sent: the benchmarks count them. */
  onRequest?: (method: string) => void;
}

export interface ClientOptions {
  rpcUrl: string;
  chainId: number;
  /** How often to poll for receipts and blocks (ms). Default 50 on loopback, 1000 elsewhere. */
  pollingInterval?: number;
  /** Default: what `setRpcDefaults` set. */
  rpc?: RpcSettings;
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

let rpcDefaults: RpcSettings = {};

/**
 * The settings of clients made from now on without their own: the CLI sets them once from its
 * configuration, so that every role and command it starts, whoever connects, treats the node the same.
 */
export function setRpcDefaults(settings: RpcSettings): void {
  rpcDefaults = settings;
}

let reportChainWait: (message: string) => void = () => undefined;

/** Where "waiting for the chain" lines go (the CLI: stderr; by default nowhere). */
export function onChainWait(report: (message: string) => void): void {
  reportChainWait = report;
}

// Chains this process stopped itself (a local anvil): nobody waits for them to come back.
const stoppedHere = new Set<string>();

/** Marks a chain this process is stopping (or starting again) at `rpcUrl`; calls to a stopped one fail at once. */
export function markChainStopped(rpcUrl: string, stopped: boolean): void {
  if (stopped) stoppedHere.add(rpcUrl);
  else stoppedHere.delete(rpcUrl);
}

/**
 * What the transport throws when the node does not answer. A viem error, so that viem keeps it as the
 * cause of what it throws in turn (toChainError turns it into a ChainError with this message).
 */
export class ChainNotAnsweringError extends BaseError {
  constructor(message: string, cause: unknown) {
    super(message, { cause: cause as Error, name: 'ChainNotAnsweringError' });
  }
}

/** Methods that change the chain: sent again only when the first attempt cannot have reached the node. */
const WRITE_METHODS = new Set(['eth_sendRawTransaction', 'eth_sendTransaction']);

/** The node did not answer at all (refused, reset, timed out), as opposed to answering with an error. */
function notAnswered(error: unknown, timeoutMs: number): { refused: boolean; reason: string } | undefined {
  if (!(error instanceof HttpRequestError) && !(error instanceof TimeoutError)) return undefined;
  if (error instanceof HttpRequestError && error.status !== undefined) return undefined;
  let code: unknown;
  for (let cause: unknown = error; cause && code === undefined; cause = (cause as { cause?: unknown }).cause) {
    code = (cause as { code?: unknown }).code;
  }
  const reason = error instanceof TimeoutError ? `no answer within ${timeoutMs / 1000} s` : typeof code === 'string' ? code : 'connection failed';
  return { refused: code === 'ECONNREFUSED', reason };
}

/**
 * The HTTP transport for an RPC URL: each request times out, and a node that does not answer (restarting,
 * say) is waited for: reads are retried with a growing pause for up to `waitMs`, writes only while the
 * connection is refused (so a transaction is never sent twice). Then the call fails with "the chain at URL
 * does not answer".
 */
function rpcTransport(rpcUrl: string, settings: RpcSettings = rpcDefaults): Transport {
  const timeoutMs = settings.timeoutMs ?? 10_000;
  const waitMs = settings.waitMs ?? 30_000;
  const onRequest = settings.onRequest;
  const transport = http(rpcUrl, {
    retryCount: 0,
    timeout: timeoutMs,
    fetchFn: rpcUrl.startsWith('http:') ? plainHttpFetch : undefined,
  });
  const shownUrl = redactRpcUrl(rpcUrl);
  let waiting = false;
  return ((options: Parameters<Transport>[0]) => {
    const inner = transport(options);
    const request = inner.request as (a: unknown, o?: unknown) => Promise<unknown>;
    return { ...inner, request: (async (args: { method: string }, requestOptions?: unknown) => {
      onRequest?.(args.method);
      const deadline = Date.now() + waitMs;
      for (let attempt = 0; ; attempt++) {
        try {
          const result = await request(args, requestOptions);
          if (waiting) {
            waiting = false;
            reportChainWait(`the chain at ${shownUrl} answers again`);
          }
          return result;
        } catch (error) {
          const failure = notAnswered(error, timeoutMs);
          const mayRetry = failure && !stoppedHere.has(rpcUrl) && (failure.refused || !WRITE_METHODS.has(args.method));
          if (!failure || !mayRetry || Date.now() >= deadline) {
            if (!failure) throw error;
            const waited = stoppedHere.has(rpcUrl) ? ', stopped by this process' : attempt > 0 ? `, waited ${Math.round(waitMs / 1000)} s` : '';
            throw new ChainNotAnsweringError(`the chain at ${shownUrl} does not answer (${failure.reason}${waited}); check that it runs`, error);
          }
          if (!waiting) {
            waiting = true;
            reportChainWait(`the chain at ${shownUrl} does not answer (${failure.reason}); waiting up to ${Math.round(waitMs / 1000)} s for it`);
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2_000, Math.max(0, deadline - Date.now()))));
        }
      }
    }) as typeof inner.request };
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
    transport: rpcTransport(options.rpcUrl, options.rpc),
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
    transport: rpcTransport(options.rpcUrl, options.rpc),
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
  rpc?: RpcSettings;
}

/** Public and wallet clients for an RPC URL and a private key. */
export async function connectChain(options: ConnectChainOptions): Promise<ChainClients & { chainId: number }> {
  const chainId = options.chainId ?? (await fetchChainId(options.rpcUrl));
  const clientOptions = { rpcUrl: options.rpcUrl, chainId, pollingInterval: options.pollingInterval, rpc: options.rpc };
  return {
    chainId,
    publicClient: createLilypadPublicClient(clientOptions),
    walletClient: createLilypadWalletClient({ ...clientOptions, privateKey: options.privateKey }),
  };
}
