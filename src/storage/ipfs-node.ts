/**
 * The IPFS node a role runs: Helia with a libp2p node built here (TCP, noise, yamux, identify, bitswap) over
 * the role's own blockstore, so the blocks it already holds are served without copying. It dials only the
 * peers it is told about, listens on 127.0.0.1 unless told otherwise, and by default refuses every address
 * outside 127.0.0.0/8: no bootstrap peers, no mDNS, no DHT, no delegated routing, no relay, no NAT traversal.
 */
import './promise-with-resolvers.js';
import { withBitswap } from '@helia/bitswap';
import { withLibp2pLight } from '@helia/libp2p';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { identify } from '@libp2p/identify';
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createHeliaLight } from 'helia';
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { LilypadError, StorageError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { addBytes, addDirectory } from './add.js';
import { getBlock } from './blockstore.js';
import { walkDag, type FetchDagProgressEvent, type FetchDagResult } from './walk-dag.js';

export interface IpfsNodeOptions {
  /** The role's blockstore: served to peers as it is, and where fetched blocks are stored. */
  blockstore: Blockstore;
  /** Multiaddrs to listen on. Default one TCP port on 127.0.0.1 chosen by the system. */
  listen?: string[];
  /** Peers (multiaddrs ending in `/p2p/<peer id>`) to dial at start; the only peers the node will dial. */
  peers?: string[];
  /**
   * Refuse to listen on, announce or dial any address outside 127.0.0.0/8. Default true; a role that talks
   * across machines turns it off and names its peers' public addresses.
   */
  loopbackOnly?: boolean;
  /** The node's identity. Default a new Ed25519 key, kept across stop and start of this node. */
  privateKey?: PrivateKey;
  logger?: Logger;
}

export type IpfsFetchProgressEvent = FetchDagProgressEvent;

export interface IpfsFetchOptions {
  signal?: AbortSignal;
  /** Peers that should hold the blocks (from signed offers): named and dialled first, if not connected. */
  peers?: readonly string[];
  /** Give up when no peer has sent one block within this long (code 'cid-unavailable'). Default 30 s. */
  timeoutMs?: number;
  /** Blocks asked for at once. Default 32. */
  concurrency?: number;
  onProgress?: (event: IpfsFetchProgressEvent) => void;
}

export type IpfsFetchResult = FetchDagResult;

/** Takes a stream a peer opened with one of this node's own protocols; `peerId` is the peer's, authenticated by the connection. */
export type ProtocolHandler = (stream: Stream, peerId: string) => void;

export interface IpfsNode {
  /** Starts listening and dials the named peers. Starting a started node does nothing. */
  start(): Promise<void>;
  /** Closes every connection and the listener; the blockstore stays open (it is the role's). Harmless twice. */
  stop(): Promise<void>;
  /** This node's peer id; throws before the first start. */
  readonly peerId: PeerId;
  /** The addresses peers can dial, each ending in `/p2p/<peer id>`; empty when stopped. */
  multiaddrs(): string[];
  /** The peers it was configured to dial always (`IpfsNodeOptions.peers`), as given. */
  configuredPeers(): string[];
  /** Names one more peer and connects to it. */
  dial(address: string, options?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Names the peers and dials those not connected now, at once; one that cannot be reached (or is not
   * allowed) is logged, never thrown: another peer, or a connection it made to us, may still serve.
   */
  connect(peers: readonly string[], options?: { signal?: AbortSignal }): Promise<void>;
  /** The named peers this node is connected to now. */
  connectedPeers(): string[];
  /**
   * Makes sure every block of the DAG under `cid` is in the blockstore, asking the connected peers over
   * bitswap. Throws a `StorageError` 'cid-unavailable' when no peer sends a block within `timeoutMs`.
   */
  fetchDag(cid: CID, options?: IpfsFetchOptions): Promise<IpfsFetchResult>;
  /** One block, from the blockstore or else asked of the peers like `fetchDag`'s. */
  fetchBlock(cid: CID, options?: Pick<IpfsFetchOptions, 'signal' | 'peers' | 'timeoutMs'>): Promise<Uint8Array>;
  /** Adds a folder (`add.ts`, the project's profile) and tells peers waiting for its blocks. */
  addDirectory(dir: string): Promise<CID>;
  addBytes(bytes: Uint8Array): Promise<CID>;
  /** True when the block is in the local blockstore; never asks the network. */
  has(cid: CID): Promise<boolean>;
  /**
   * Serves a protocol of the project's own besides bitswap (such as a job's live output): `handler` gets every
   * stream a peer opens with it, at most `maxInboundStreams` at once on one connection (default 4). Kept across
   * stop and start; handling a protocol again replaces its handler.
   */
  handle(protocol: string, handler: ProtocolHandler, options?: { maxInboundStreams?: number }): Promise<void>;
  /** Names the peer at `address`, connects to it if need be, and opens a stream of `protocol` to it. */
  openStream(address: string, protocol: string, options?: { signal?: AbortSignal }): Promise<Stream>;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function createIpfsNode(options: IpfsNodeOptions): IpfsNode {
  const loopbackOnly = options.loopbackOnly ?? true;
  const log = options.logger ?? silentLogger;
  const listen = options.listen ?? ['/ip4/127.0.0.1/tcp/0'];
  // Peer id -> the multiaddr it was named by. Nothing else is ever dialled.
  const named = new Map<string, Multiaddr>();
  const configured = (options.peers ?? []).map(name);

  type Node = Awaited<ReturnType<typeof build>>;
  let node: Node | undefined;
  let starting: Promise<void> | undefined;
  let lastPeerId: PeerId | undefined;
  let privateKey = options.privateKey;
  const handlers = new Map<string, { handler: ProtocolHandler; maxInboundStreams: number }>();

  function name(address: string): Multiaddr {
    const parsed = parsePeerAddress(address);
    if (loopbackOnly && !isLoopback(parsed)) {
      throw new StorageError(
        `the IPFS peer ${address} is not on 127.0.0.0/8, and this node only talks to this machine; name a loopback address`,
        { code: 'peer-not-allowed', details: { address } },
      );
    }
    named.set(peerIdOf(parsed)!, parsed);
    return parsed;
  }

  function build(key: PrivateKey) {
    for (const address of listen) {
      if (loopbackOnly && !isLoopback(parseMultiaddr(address))) {
        throw new StorageError(`the IPFS node may listen only on 127.0.0.0/8, not on ${address}`, {
          code: 'listen-not-allowed',
          details: { address },
        });
      }
    }
    const helia = createHeliaLight({ blockstore: options.blockstore, routers: [] });
    return withBitswap(
      withLibp2pLight(helia, {
        privateKey: key,
        addresses: {
          listen,
          // Identify adds addresses that peers observed; with loopbackOnly none outside 127/8 may be announced.
          announceFilter: (addresses) => (loopbackOnly ? addresses.filter(isLoopback) : addresses),
        },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() },
        peerDiscovery: [],
        // The monitor pings over a protocol this node does not run, and would drop healthy connections.
        connectionMonitor: { enabled: false },
        connectionGater: {
          denyDialPeer: (peerId) => !named.has(peerId.toString()),
          denyDialMultiaddr: (address) => loopbackOnly && !isLoopback(address),
        },
      }),
    );
  }

  async function handleOn(running: Node, protocol: string): Promise<void> {
    const { maxInboundStreams } = handlers.get(protocol)!;
    // The handler is looked up for each stream, so that the last one handed to `handle` serves, whenever libp2p took it.
    await running.libp2p.handle(protocol, (stream, connection) => handlers.get(protocol)?.handler(stream, connection.remotePeer.toString()), { maxInboundStreams, force: true });
  }

  async function dialNamed(peer: Multiaddr, signal?: AbortSignal): Promise<void> {
    if (node === undefined) throw notStarted();
    try {
      await node.libp2p.dial(peer, { signal });
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      throw new StorageError(`cannot connect to the IPFS peer ${peer}: ${describe(cause)}; check that it is running`, {
        code: 'peer-unreachable',
        details: { address: peer.toString() },
        retryable: true,
        cause,
      });
    }
  }

  /**
   * Dials the configured peers and `more` that are not connected; one that cannot be reached (or is not
   * allowed) is logged, not fatal: another peer, or a connection it made to us, may still serve the blocks.
   */
  async function connectNamed(more: readonly string[] = [], signal?: AbortSignal): Promise<void> {
    if (node === undefined) return;
    const connected = new Set(node.libp2p.getConnections().map((c: Connection) => c.remotePeer.toString()));
    const wanted = new Map(configured.map((peer) => [peerIdOf(peer)!, peer]));
    for (const address of more) {
      try {
        const peer = name(address);
        wanted.set(peerIdOf(peer)!, peer);
      } catch (error) {
        log.warn({ peer: address, err: error }, 'IPFS peer not dialled');
      }
    }
    await Promise.all(
      [...wanted.entries()]
        .filter(([peerId]) => !connected.has(peerId))
        .map(([, peer]) =>
          dialNamed(peer, signal).catch((error: unknown) => {
            if (signal?.aborted) return;
            log.warn({ peer: peer.toString(), err: error }, 'IPFS peer unreachable');
          }),
        ),
    );
  }

  /**
   * Helia's blockstore asks the connected peers over bitswap for a block it lacks, hashes what arrives, and
   * stores it only when it matches the CID (bitswap derives the CID from the bytes, and Helia's storage
   * compares the digest again), so a lying peer's bytes are never stored. With no peer connected at all it
   * fails at once: there is no one to wait for.
   */
  async function askPeers(running: Node, cid: CID, root: CID, signal: AbortSignal, timeoutMs: number): Promise<Uint8Array> {
    const of = cid.equals(root) ? '' : ` (in the DAG of ${root})`;
    const peers = running.libp2p.getConnections().length;
    if (peers === 0) {
      throw new StorageError(`no IPFS peer is connected to ask for block ${cid}${of}; check that a peer holding it is named and reachable`, {
        code: 'cid-unavailable',
        details: { cid: cid.toString(), root: root.toString(), peers },
        retryable: true,
      });
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      return await getBlock(running.blockstore, cid, { signal: AbortSignal.any([signal, timeout]) });
    } catch (cause) {
      if (signal.aborted) throw signal.reason;
      const message = timeout.aborted
        ? `no peer had block ${cid}${of} within ${formatSeconds(timeoutMs)} (${peers} connected); check that a peer holding it is named`
        : `cannot fetch block ${cid}${of} from IPFS peers: ${describe(cause)}`;
      throw new StorageError(message, { code: 'cid-unavailable', details: { cid: cid.toString(), root: root.toString(), peers }, retryable: true, cause });
    }
  }

  const ipfs: IpfsNode = {
    async start() {
      if (node !== undefined) return;
      starting ??= (async () => {
        // A peer that named this node by its multiaddr can still reach it after a restart.
        privateKey ??= await generateKeyPair('Ed25519');
        const built = build(privateKey);
        await built.start();
        for (const protocol of handlers.keys()) await handleOn(built, protocol);
        node = built;
        lastPeerId = built.libp2p.peerId;
        log.info({ peerId: lastPeerId.toString(), addresses: ipfs.multiaddrs() }, 'IPFS node listening');
        await connectNamed();
      })().finally(() => {
        starting = undefined;
      });
      await starting;
    },

    async stop() {
      await starting?.catch(() => undefined);
      const running = node;
      node = undefined;
      await running?.stop();
    },

    get peerId(): PeerId {
      if (lastPeerId === undefined) throw notStarted();
      return lastPeerId;
    },

    multiaddrs() {
      return node?.libp2p.getMultiaddrs().map((address: Multiaddr) => address.toString()) ?? [];
    },

    async dial(address, dialOptions = {}) {
      const peer = name(address);
      await dialNamed(peer, dialOptions.signal);
    },

    configuredPeers() {
      return configured.map((peer) => peer.toString());
    },

    async connect(peers, connectOptions = {}) {
      if (node === undefined) throw notStarted();
      await connectNamed(peers, connectOptions.signal);
    },

    connectedPeers() {
      if (node === undefined) return [];
      return [...new Set(node.libp2p.getConnections().map((c: Connection) => c.remotePeer.toString()))].filter((id) =>
        named.has(id),
      );
    },

    async fetchDag(cid, fetchOptions = {}) {
      if (node === undefined) throw notStarted();
      const running = node;
      const { signal, onProgress } = fetchOptions;
      signal?.throwIfAborted();
      await connectNamed(fetchOptions.peers, signal);
      return walkDag(cid, {
        concurrency: Math.max(1, fetchOptions.concurrency ?? 32),
        order: 'breadth',
        signal,
        blockstore: options.blockstore,
        onProgress,
        fetchBlock: (next, blockSignal) => askPeers(running, next, cid, blockSignal, fetchOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    },

    async fetchBlock(cid, fetchOptions = {}) {
      if (node === undefined) throw notStarted();
      const running = node;
      const signal = fetchOptions.signal ?? new AbortController().signal;
      signal.throwIfAborted();
      if (await options.blockstore.has(cid, { signal })) return getBlock(options.blockstore, cid, { signal });
      await connectNamed(fetchOptions.peers, signal);
      return askPeers(running, cid, cid, signal, fetchOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    },

    async addDirectory(dir) {
      // Through Helia's blockstore, so bitswap tells peers already waiting for these blocks.
      return addDirectory(dir, node?.blockstore ?? options.blockstore);
    },

    async addBytes(bytes) {
      return addBytes(bytes, node?.blockstore ?? options.blockstore);
    },

    async has(cid) {
      return options.blockstore.has(cid);
    },

    async handle(protocol, handler, handleOptions = {}) {
      handlers.set(protocol, { handler, maxInboundStreams: handleOptions.maxInboundStreams ?? 4 });
      if (node !== undefined) await handleOn(node, protocol);
    },

    async openStream(address, protocol, streamOptions = {}) {
      if (node === undefined) throw notStarted();
      const peer = name(address);
      try {
        return await node.libp2p.dialProtocol(peer, protocol, { signal: streamOptions.signal });
      } catch (cause) {
        if (streamOptions.signal?.aborted) throw streamOptions.signal.reason;
        throw new StorageError(`cannot open ${protocol} to the IPFS peer ${address}: ${describe(cause)}`, {
          code: 'peer-unreachable',
          details: { address, protocol },
          retryable: true,
          cause,
        });
      }
    },
  };
  return ipfs;
}

function parseMultiaddr(address: string): Multiaddr {
  try {
    return multiaddr(address);
  } catch (cause) {
    throw new StorageError(`${address} is not a multiaddr (for example /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo...)`, {
      code: 'invalid-multiaddr',
      details: { address },
      cause,
    });
  }
}

function parsePeerAddress(address: string): Multiaddr {
  const parsed = parseMultiaddr(address);
  if (peerIdOf(parsed) === undefined) {
    throw new StorageError(`the IPFS peer address ${address} does not end in /p2p/<peer id>; name the peer's id too`, {
      code: 'invalid-multiaddr',
      details: { address },
    });
  }
  return parsed;
}

/** The peer ids that multiaddrs (`.../p2p/<id>`, as signed offers name peers) end in, each once; others are skipped. */
export function peerIdsOf(addresses: readonly string[]): string[] {
  const ids = new Set<string>();
  for (const address of addresses) {
    try {
      const id = peerIdOf(multiaddr(address));
      if (id !== undefined) ids.add(id);
    } catch {
      // not a multiaddr: names no peer
    }
  }
  return [...ids];
}

function peerIdOf(address: Multiaddr): string | undefined {
  return address.getComponents().findLast((component) => component.name === 'p2p')?.value;
}

/**
 * A node that listens only on loopback (the default) talks only to this machine; one that listens on a
 * public or any-interface address is meant to reach peers across machines.
 */
export function loopbackOnly(listen: readonly string[] | undefined): boolean {
  return (listen ?? []).every((address) => isLoopback(parseMultiaddr(address)));
}

/** True for /ip4/127.x.x.x and /ip6/::1 addresses; false for names, which could resolve anywhere. */
export function isLoopback(address: Multiaddr): boolean {
  const first = address.getComponents()[0];
  if (first === undefined) return false;
  if (first.name === 'ip4') return first.value?.startsWith('127.') ?? false;
  if (first.name === 'ip6') return first.value === '::1';
  return false;
}

function notStarted(): StorageError {
  return new StorageError('the IPFS node is not started; call start() first', { code: 'internal' });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function describe(error: unknown): string {
  if (error instanceof LilypadError) return error.message;
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  return error instanceof Error ? error.message : String(error);
}
