import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { Hono } from 'hono';
import { CID } from 'multiformats/cid';
import { afterEach, describe, expect, it } from 'vitest';
import { addBytes, addDirectory } from './add.js';
import { closeBlockstore, getBlock, openBlockstore, type Blockstore } from './blockstore.js';
import { blockLinks, blockMatchesCid } from './dag.js';
import { exportDirectory } from './export.js';
import { fetchDag, type FetchDagProgressEvent } from './fetch.js';
import { listen } from '../lib/http-server.js';
import { addGatewayRoutes, startGateway, type RunningGateway } from './serve.js';

function deterministicBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lilypad-fetch-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
async function serveApp(app: Hono): Promise<RunningGateway> {
  const running = await listen(app);
  cleanups.push(() => running.close());
  return running;
}

/** A result folder: small files, a 2.5 MiB file (three blocks), nested and empty folders. */
async function resultFolder(): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'stdout'), 'hello from the job\n');
  await writeFile(join(dir, 'stderr'), '');
  await writeFile(join(dir, 'exitCode'), '0');
  await mkdir(join(dir, 'outputs', 'nested', 'deeper'), { recursive: true });
  await mkdir(join(dir, 'outputs', 'empty'), { recursive: true });
  await mkdir(join(dir, 'outputs', 'nested', 'also-empty'), { recursive: true });
  await writeFile(join(dir, 'outputs', 'nested', 'deeper', 'model.bin'), deterministicBytes(2.5 * 1024 * 1024, 3));
  await writeFile(join(dir, 'outputs', 'result.json'), '{"answer":42}');
  return dir;
}

/** Every path under `dir` with its kind and bytes, for byte-for-byte comparison. */
async function snapshot(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      out[`${path}/`] = 'dir';
      Object.assign(out, await snapshot(dir, path));
    } else {
      out[path] = (await readFile(join(dir, path))).toString('base64');
    }
  }
  return out;
}

async function allCids(blockstore: Blockstore, root: CID): Promise<CID[]> {
  const out: CID[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const cid = stack.pop() as CID;
    out.push(cid);
    stack.push(...blockLinks(cid, await getBlock(blockstore, cid)));
  }
  return out;
}

describe('fetchDag', () => {
  it('round-trips a result folder: addDirectory → HTTP gateway → fetchDag → exportDirectory', async () => {
    const folder = await resultFolder();
    const source = await openBlockstore(join(await tempDir(), 'source'));
    cleanups.push(() => closeBlockstore(source));
    const cid = await addDirectory(folder, source);
    const gateway = await startGateway({ blockstore: source });
    cleanups.push(() => gateway.close());

    const destination = await openBlockstore(join(await tempDir(), 'destination'));
    cleanups.push(() => closeBlockstore(destination));
    const events: FetchDagProgressEvent[] = [];
    const result = await fetchDag(cid, {
      gatewayUrl: `${gateway.url}/`,
      blockstore: destination,
      onProgress: (event) => events.push(event),
    });

    const expectedBlocks = await allCids(source, cid);
    const unique = new Set(expectedBlocks.map(String));
    expect(result).toMatchObject({ blocks: unique.size, fetched: unique.size });
    expect(events.filter((event) => event.type === 'block:verified')).toHaveLength(unique.size);
    expect(events.at(-1)).toMatchObject({ type: 'dag:fetched', blocks: unique.size });
    for (const block of unique) expect(await destination.has(CID.parse(block))).toBe(true);

    const out = join(await tempDir(), 'result');
    await exportDirectory(cid, destination, out);
    expect(await snapshot(out)).toEqual(await snapshot(folder));
    expect(Object.keys(await snapshot(out))).toContain('outputs/empty/');

    // A second fetch downloads nothing.
    const again = await fetchDag(cid, { gatewayUrl: gateway.url, blockstore: destination });
    expect(again).toMatchObject({ blocks: unique.size, fetched: 0, bytes: 0 });
  });

  it('completes a partial DAG, downloading only what is missing', async () => {
    const source = new MemoryBlockstore();
    const cid = await addBytes(deterministicBytes(3 * 1024 * 1024, 9), source);
    const gateway = await startGateway({ blockstore: source });
    cleanups.push(() => gateway.close());
    const destination = new MemoryBlockstore();
    const [, firstLeaf] = await allCids(source, cid);
    await destination.put(cid, await getBlock(source, cid));
    await destination.put(firstLeaf, await getBlock(source, firstLeaf));
    const result = await fetchDag(cid, { gatewayUrl: gateway.url, blockstore: destination });
    expect(result).toMatchObject({ blocks: 4, fetched: 2 });
  });

  it('fails with block-mismatch when the gateway lies, and stores no bad block', async () => {
    const folder = await resultFolder();
    const source = new MemoryBlockstore();
    const cid = await addDirectory(folder, source);
    const blocks = await allCids(source, cid);
    const victim = blocks[blocks.length - 1];

    const app = new Hono();
    app.get('/ipfs/:cid', async (c, next) => {
      if (c.req.param('cid') !== victim.toString()) return next();
      const tampered = new Uint8Array(await getBlock(source, victim));
      tampered[0] ^= 0xff;
      return new Response(tampered, { headers: { 'content-type': 'application/vnd.ipld.raw' } });
    });
    addGatewayRoutes(app, { blockstore: source });
    const hostile = await serveApp(app);

    const destination = new MemoryBlockstore();
    const error = await fetchDag(cid, { gatewayUrl: hostile.url, blockstore: destination }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'StorageError', code: 'block-mismatch' });
    expect((error as Error).message).toContain(victim.toString());
    expect((error as Error).message).toMatch(/another gateway/);
    expect(await destination.has(victim)).toBe(false);
    for await (const { cid: stored, bytes } of destination.getAll()) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of bytes) chunks.push(chunk);
      expect(await blockMatchesCid(stored, Buffer.concat(chunks))).toBe(true);
    }
  });

  it('fails with block-missing when the gateway lacks a block', async () => {
    const folder = await resultFolder();
    const source = new MemoryBlockstore();
    const cid = await addDirectory(folder, source);
    const blocks = await allCids(source, cid);
    const gone = blocks[Math.floor(blocks.length / 2)];
    await source.delete(gone);
    const gateway = await startGateway({ blockstore: source });
    cleanups.push(() => gateway.close());

    const error = await fetchDag(cid, { gatewayUrl: gateway.url, blockstore: new MemoryBlockstore() }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'StorageError', code: 'block-missing' });
    expect((error as Error).message).toContain(gone.toString());
    expect((error as Error).message).toContain(cid.toString());
  });

  it('fails clearly when the gateway is unreachable, without showing credentials', async () => {
    const cid = await addBytes(new TextEncoder().encode('hello world'), new MemoryBlockstore());
    const error = await fetchDag(cid, {
      gatewayUrl: 'http://user:secret@127.0.0.1:1/?token=hunter2',
      blockstore: new MemoryBlockstore(),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'StorageError', code: 'gateway-unreachable', retryable: true });
    const message = (error as Error).message;
    expect(message).toContain('http://127.0.0.1:1');
    expect(message).toContain(cid.toString());
    expect(message).toMatch(/check that it is running/);
    expect(message).not.toMatch(/secret|hunter2/);
    expect(JSON.stringify((error as { details: unknown }).details)).not.toMatch(/secret|hunter2/);
  });

  it('says the connection was refused when nothing listens on the port', async () => {
    const closed = await listen(new Hono());
    await closed.close();
    const cid = await addBytes(new TextEncoder().encode('hello world'), new MemoryBlockstore());
    const error = await fetchDag(cid, { gatewayUrl: closed.url, blockstore: new MemoryBlockstore() }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'gateway-unreachable' });
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('refuses a gateway that sends more than a block can hold', async () => {
    const cid = await addBytes(new TextEncoder().encode('hello world'), new MemoryBlockstore());
    const app = new Hono();
    app.get('/ipfs/:cid', () => new Response(new Uint8Array(3 * 1024 * 1024)));
    const flooding = await serveApp(app);
    const destination = new MemoryBlockstore();
    await expect(fetchDag(cid, { gatewayUrl: flooding.url, blockstore: destination })).rejects.toMatchObject({
      code: 'block-too-large',
    });
    expect(await destination.has(cid)).toBe(false);
  });

  it('keeps at most `concurrency` requests in flight, and stops when aborted', async () => {
    const source = new MemoryBlockstore();
    const cid = await addBytes(deterministicBytes(6 * 1024 * 1024, 5), source);
    let inFlight = 0;
    let most = 0;
    const app = new Hono();
    app.use('*', async (_c, next) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await next();
      inFlight -= 1;
    });
    addGatewayRoutes(app, { blockstore: source });
    const slow = await serveApp(app);

    await fetchDag(cid, { gatewayUrl: slow.url, blockstore: new MemoryBlockstore(), concurrency: 2 });
    expect(most).toBe(2);

    const controller = new AbortController();
    controller.abort(new Error('user gave up'));
    await expect(
      fetchDag(cid, { gatewayUrl: slow.url, blockstore: new MemoryBlockstore(), signal: controller.signal }),
    ).rejects.toThrow('user gave up');

    const later = new AbortController();
    const destination = new MemoryBlockstore();
    const pending = fetchDag(cid, {
      gatewayUrl: slow.url,
      blockstore: destination,
      signal: later.signal,
      onProgress: (event) => {
        if (event.type === 'block:verified') later.abort(new Error('stop now'));
      },
    });
    await expect(pending).rejects.toThrow('stop now');
  });
});
