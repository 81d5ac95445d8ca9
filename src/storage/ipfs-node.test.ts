import dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import type { Blockstore } from 'interface-blockstore';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StorageError } from '../lib/errors.js';
import { addBytes, cidOfDirectory } from './add.js';
import { closeBlockstore, openBlockstore } from './blockstore.js';
import { exportDirectory } from './export.js';
import { createIpfsNode, type IpfsNode } from './ipfs-node.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lilypad-ipfs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startNode(blockstore: Blockstore = new MemoryBlockstore(), peers: string[] = []): Promise<IpfsNode> {
  const node = createIpfsNode({ blockstore, peers });
  cleanups.push(() => node.stop());
  await node.start();
  return node;
}

/** A result-like folder: small files, a nested and an empty folder, and a file of three 1 MiB chunks. */
async function sampleFolder(): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'stdout'), 'hello from a job\n');
  await writeFile(join(dir, 'exitCode'), '0');
  await mkdir(join(dir, 'outputs', 'nested'), { recursive: true });
  await mkdir(join(dir, 'outputs', 'empty'));
  await writeFile(join(dir, 'outputs', 'weights.bin'), randomBytes(2.5 * 1024 * 1024));
  await writeFile(join(dir, 'outputs', 'nested', 'notes.txt'), 'a'.repeat(10_000));
  return dir;
}

/** Every path under `dir` with the sha-256 of its bytes ('dir' for a folder). */
async function listTree(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = `${prefix}${entry.name}`;
    if (entry.isDirectory()) {
      out.set(path, 'dir');
      for (const [k, v] of await listTree(join(dir, entry.name), `${path}/`)) out.set(k, v);
    } else {
      out.set(path, createHash('sha256').update(await readFile(join(dir, entry.name))).digest('hex'));
    }
  }
  return out;
}

describe('IPFS node', () => {
  it('moves a folder from one node to another over libp2p, byte for byte, under the folder CID', async () => {
    const folder = await sampleFolder();
    const a = await startNode();
    const cid = await a.addDirectory(folder);
    expect(cid.toString()).toBe((await cidOfDirectory(folder)).toString());

    // B keeps its blocks on disk, as a role does.
    const storeDir = await tempDir();
    const bStore = await openBlockstore(storeDir);
    cleanups.push(() => closeBlockstore(bStore));
    const b = await startNode(bStore, a.multiaddrs());
    expect(b.connectedPeers()).toEqual([a.peerId.toString()]);

    const events: string[] = [];
    const result = await b.fetchDag(cid, { timeoutMs: 10_000, onProgress: (e) => events.push(e.type) });
    expect(result.blocks).toBeGreaterThanOrEqual(8);
    expect(result.fetched).toBe(result.blocks);
    expect(events.at(-1)).toBe('dag:fetched');
    expect(await b.has(cid)).toBe(true);

    const out = join(await tempDir(), 'result');
    await exportDirectory(cid, bStore, out);
    expect(await listTree(out)).toEqual(await listTree(folder));

    // A second fetch finds everything present and asks nobody.
    const again = await b.fetchDag(cid, { timeoutMs: 1000 });
    expect(again.fetched).toBe(0);
  });

  it('serves blocks that were put in the shared blockstore before the node existed', async () => {
    const store = new MemoryBlockstore();
    const cid = await addBytes(randomBytes(1_500_000), store);
    const a = await startNode(store);
    const b = await startNode(new MemoryBlockstore(), a.multiaddrs());
    const result = await b.fetchDag(cid, { timeoutMs: 10_000 });
    expect(result.fetched).toBe(3);
  });

  it('listens and announces on 127.0.0.1 only, and connects to nothing but the peers named', async () => {
    const connects: string[] = [];
    const realConnect = net.Socket.prototype.connect;
    vi.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
      // net.connect hands the socket its arguments already normalized, as [options, callback].
      const first = (Array.isArray(args[0]) ? args[0][0] : args[0]) as { host?: string; port?: number; path?: string };
      connects.push(first.path ?? `${first.host}:${first.port}`);
      return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
    });
    const udp = vi.spyOn(dgram, 'createSocket');

    const a = await startNode();
    const bystander = await startNode();
    const b = await startNode(new MemoryBlockstore(), a.multiaddrs());
    const cid = await a.addBytes(randomBytes(100_000));
    await b.fetchDag(cid, { timeoutMs: 10_000 });

    for (const node of [a, b, bystander]) {
      expect(node.multiaddrs().length).toBeGreaterThan(0);
      for (const address of node.multiaddrs()) expect(address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);
    }
    const aPort = /\/tcp\/(\d+)\//.exec(a.multiaddrs()[0])![1];
    expect(connects).toEqual([`127.0.0.1:${aPort}`]);
    expect(udp).not.toHaveBeenCalled();
    expect(b.connectedPeers()).toEqual([a.peerId.toString()]);
  });

  it('refuses to name a peer or listen outside 127.0.0.0/8', async () => {
    const a = await startNode();
    const id = a.peerId.toString();
    await expect(a.dial(`/ip4/192.0.2.1/tcp/4001/p2p/${id}`)).rejects.toMatchObject({ code: 'peer-not-allowed' });
    await expect(a.dial('/ip4/127.0.0.1/tcp/4001')).rejects.toMatchObject({ code: 'invalid-multiaddr' });
    const wide = createIpfsNode({ blockstore: new MemoryBlockstore(), listen: ['/ip4/0.0.0.0/tcp/0'] });
    await expect(wide.start()).rejects.toMatchObject({ code: 'listen-not-allowed' });
  });

  it('fails within the stated time with one line when no named peer has the CID', async () => {
    const a = await startNode();
    const b = await startNode(new MemoryBlockstore(), a.multiaddrs());
    const missing = await addBytes(new TextEncoder().encode('nobody has this'), new MemoryBlockstore());

    const started = performance.now();
    const error = await b.fetchDag(missing, { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'cid-unavailable' });
    expect((error as Error).message).toBe(`no peer had block ${missing} within 1 s (1 connected); check that a peer holding it is named`);
    expect((error as Error).message).not.toContain('\n');
  });

  it('stops a fetch when its signal aborts', async () => {
    // Connected to a peer that lacks the block, so the fetch waits for it rather than failing at once.
    const a = await startNode();
    const b = await startNode(new MemoryBlockstore(), a.multiaddrs());
    const missing = await addBytes(new TextEncoder().encode('never'), new MemoryBlockstore());
    const controller = new AbortController();
    const fetching = b.fetchDag(missing, { signal: controller.signal, timeoutMs: 60_000 });
    setTimeout(() => controller.abort(new Error('user stopped')), 100);
    await expect(fetching).rejects.toThrow('user stopped');
  });

  it('fails at once when no peer is connected to ask', async () => {
    const b = await startNode();
    const missing = await addBytes(new TextEncoder().encode('no one to ask'), new MemoryBlockstore());
    const error = await b.fetchDag(missing, { timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'cid-unavailable' });
    expect((error as Error).message).toBe(`no IPFS peer is connected to ask for block ${missing}; check that a peer holding it is named and reachable`);
  });

  it('dials the peers a fetch names, and fetches from them', async () => {
    const store = new MemoryBlockstore();
    const a = await startNode(store);
    const cid = await a.addBytes(new TextEncoder().encode('named by the offer'));
    const b = await startNode();
    expect(b.connectedPeers()).toEqual([]);
    const block = await b.fetchBlock(cid, { peers: a.multiaddrs() });
    expect(new TextDecoder().decode(block)).toBe('named by the offer');
    expect(b.connectedPeers()).toEqual([a.peerId.toString()]);
  });

  it('fetches from a peer that cannot be dialled, over the connection that peer opened (a provider behind NAT)', async () => {
    const jobCreator = await startNode();
    const provider = await startNode();
    // The provider dials out, as it does to fetch inputs or once its result is added.
    await provider.connect(jobCreator.multiaddrs());
    const result = await provider.addBytes(new TextEncoder().encode('made behind NAT'));
    // The address its offer names does not answer (nothing listens on port 1).
    const unreachable = `/ip4/127.0.0.1/tcp/1/p2p/${provider.peerId.toString()}`;
    const block = await jobCreator.fetchBlock(result, { peers: [unreachable], timeoutMs: 5000 });
    expect(new TextDecoder().decode(block)).toBe('made behind NAT');
  });

  it('never stores the bytes of a peer that lies about a block', async () => {
    // The liar's blockstore claims every block and answers with other bytes; bitswap sends them as they are.
    const honest = new MemoryBlockstore();
    const cid = await addBytes(randomBytes(50_000), honest);
    const lies: Blockstore = Object.assign(Object.create(honest) as Blockstore, {
      has: async () => true,
      get: async function* () {
        yield new TextEncoder().encode('not the block you asked for');
      },
    });
    const liar = await startNode(lies);
    const bStore = new MemoryBlockstore();
    const b = await startNode(bStore, liar.multiaddrs());

    await expect(b.fetchDag(cid, { timeoutMs: 1500 })).rejects.toMatchObject({ code: 'cid-unavailable' });
    expect(await bStore.has(cid)).toBe(false);
    let stored = 0;
    for await (const _ of bStore.getAll()) stored += 1;
    expect(stored).toBe(0);
  });

  it('starts and stops twice harmlessly, and leaves no socket open', async () => {
    const a = createIpfsNode({ blockstore: new MemoryBlockstore() });
    const b = createIpfsNode({ blockstore: new MemoryBlockstore() });
    await Promise.all([a.start(), a.start()]);
    await a.start();
    const firstId = a.peerId.toString();
    await b.start();
    await b.dial(a.multiaddrs()[0]);
    await a.stop();
    await a.stop();
    expect(a.multiaddrs()).toEqual([]);
    await b.stop();
    await b.stop();
    await a.start();
    expect(a.multiaddrs().length).toBe(1);
    expect(a.peerId.toString()).toBe(firstId);
    await a.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'))).toEqual([]);
  });
});
