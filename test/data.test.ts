/**
 * Local data through the real CLI: `lilypad add` gives the CIDs the storage layer and Kubo give, what it kept
 * is served to the embedded network's provider by a later `lilypad run`, `-i NAME=@PATH` does both in one
 * command, and `lilypad get CID` writes out what was added.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { addBytes, cidOfDirectory, startGateway } from '../src/storage/index.js';
import { createIpfsNode, type IpfsNode } from '../src/storage/ipfs-node.js';
import { catInputModule, runCli } from './helpers.js';

let dir: string;
let moduleDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-data-e2e-'));
  env = { LILYPAD_BLOCKS_DIR: path.join(dir, 'blocks') };
  moduleDir = await catInputModule(path.join(dir, 'cat-module'));
  await mkdir(path.join(dir, 'data', 'sub'), { recursive: true });
  await writeFile(path.join(dir, 'data', 'sub', 'a.txt'), 'added in an earlier command\n');
  await writeFile(path.join(dir, 'data', 'b.txt'), 'b\n');
  await writeFile(path.join(dir, 'hello.txt'), 'hello world');
  await writeFile(path.join(dir, 'empty.txt'), '');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const add = async (target: string) => {
  const added = await runCli(['add', target], env);
  expect(added.stderr).toBe('');
  expect(added.code).toBe(0);
  return added.stdout.trim();
};

describe('lilypad add', () => {
  it('a file gets the CID Kubo gives (known-cids.md), one line', async () => {
    expect(await add(path.join(dir, 'hello.txt'))).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e');
    expect(await add(path.join(dir, 'empty.txt'))).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku');
  });

  it('a folder gets the storage layer\'s CID; --json says what was added', async () => {
    const json = await runCli(['add', '--json', path.join(dir, 'data')], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ cid: (await cidOfDirectory(path.join(dir, 'data'))).toString(), path: path.join(dir, 'data'), bytes: 30 });
  });

  it('a path that does not exist is one line and exit 1', async () => {
    const missing = await runCli(['add', path.join(dir, 'nope')], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`Error: cannot add ${path.join(dir, 'nope')}: ${path.join(dir, 'nope')} does not exist\n`);
  });
});

describe('local data on the embedded network', () => {
  it('lilypad add, then lilypad run with its CID in a second command: the provider fetches the kept blocks', async () => {
    const cid = await add(path.join(dir, 'data'));
    const run = await runCli(['run', moduleDir, '--json', '-i', `DataCID=${cid}`, '-i', 'File=/inputs/data/sub/a.txt'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stdout).toBe('added in an earlier command\n');
  }, 60_000);

  it('-i NAME=@PATH adds the folder and runs with its CID in one command', async () => {
    await mkdir(path.join(dir, 'fresh'));
    await writeFile(path.join(dir, 'fresh', 'c.txt'), 'given with @\n');
    const run = await runCli(['run', moduleDir, '--json', '-i', `DataCID=@${path.join(dir, 'fresh')}`, '-i', 'File=/inputs/data/c.txt'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stdout).toBe('given with @\n');
  }, 60_000);

  it('a result feeds the next job by a path inside its CID, and --verify re-runs a job with inputs', async () => {
    const first = await runCli(['run', moduleDir, '--json', '-i', `DataCID=@${path.join(dir, 'data')}`, '-i', 'File=/inputs/data/b.txt'], env);
    expect(first.code).toBe(0);
    const resultCid = JSON.parse(first.stdout).cid as string;
    // The job creator kept the result's blocks it downloaded, so its IPFS node serves them to the next job.
    const next = await runCli(['run', moduleDir, '--verify', '-i', `DataCID=${resultCid}/stdout`, '-i', 'File=/inputs/data'], env);
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/🔁 Re-ran the job here: same result bafy/);
    expect(next.stdout.endsWith('\nb\n')).toBe(true);
  }, 60_000);

  it('@ of a path that does not exist: one line naming the input, before any network starts', async () => {
    const run = await runCli(['run', moduleDir, '-i', `DataCID=@${path.join(dir, 'gone')}`, '-i', 'File=/x'], env);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`Error: -i DataCID=@${path.join(dir, 'gone')}: no file or folder ${path.join(dir, 'gone')} (@PATH names local data; @@ for a value starting with @)\n`);
  });
});

describe('lilypad get CID', () => {
  it('writes out what was added, every block checked; again is harmless', async () => {
    const cid = await add(path.join(dir, 'data'));
    const out = path.join(dir, 'got');
    const got = await runCli(['get', cid, '--output-dir', out], env);
    expect(got.stderr).toBe('');
    expect(got.stdout).toBe(`${path.join(out, cid)}\n`);
    expect(await readFile(path.join(out, cid, 'sub', 'a.txt'), 'utf8')).toBe('added in an earlier command\n');
    expect((await runCli(['get', cid, '--output-dir', out], env)).code).toBe(0);
  });

  it('fetches what this machine lacks from --gateway, every block checked', async () => {
    const elsewhere = new MemoryBlockstore();
    const cid = (await addBytes(new TextEncoder().encode('only on the gateway'), elsewhere)).toString();
    const gateway = await startGateway({ blockstore: elsewhere });
    try {
      const out = path.join(dir, 'from-gateway');
      const got = await runCli(['get', cid, '--output-dir', out, '--gateway', gateway.url, '--json'], env);
      expect(got.stderr).toBe('');
      expect(JSON.parse(got.stdout)).toEqual({ cid, path: path.join(out, cid) });
      expect(await readFile(path.join(out, cid), 'utf8')).toBe('only on the gateway');
    } finally {
      await gateway.close();
    }
  });

  it('a CID that nobody serves fails at once with one line', async () => {
    const nobody = 'bafkreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu';
    const got = await runCli(['get', nobody, '--output-dir', path.join(dir, 'none')], env);
    expect(got.code).toBe(1);
    expect(got.stderr).toBe(`Error: ${nobody} is not in ${path.join(dir, 'blocks')}; name a gateway that serves it with --gateway URL, or an IPFS peer with LILYPAD_IPFS_PEERS\n`);
  });
});

describe('your own IPFS node (LILYPAD_IPFS_PEERS)', () => {
  let own: IpfsNode;
  let folderCid: string;
  beforeAll(async () => {
    // Another node on this machine holds a folder this machine's blockstore does not.
    own = createIpfsNode({ blockstore: new MemoryBlockstore() });
    await own.start();
    await mkdir(path.join(dir, 'only-there'));
    await writeFile(path.join(dir, 'only-there', 'd.txt'), 'held by your own node\n');
    folderCid = (await own.addDirectory(path.join(dir, 'only-there'))).toString();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('lilypad run: the provider fetches an input that only your own node holds, named in the offer', async () => {
    const run = await runCli(['run', moduleDir, '--json', '-i', `DataCID=${folderCid}`, '-i', 'File=/inputs/data/d.txt'], { ...env, LILYPAD_IPFS_PEERS: own.multiaddrs()[0]! });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).stdout).toBe('held by your own node\n');
  }, 60_000);

  it('lilypad get CID fetches from it, every block checked', async () => {
    const out = path.join(dir, 'from-own-node');
    const got = await runCli(['get', folderCid, '--output-dir', out], { ...env, LILYPAD_BLOCKS_DIR: path.join(dir, 'other-blocks'), LILYPAD_IPFS_PEERS: own.multiaddrs()[0]! });
    expect(got.stderr).toBe('');
    expect(await readFile(path.join(out, folderCid, 'd.txt'), 'utf8')).toBe('held by your own node\n');
  });

  it('a LILYPAD_IPFS_PEERS entry that is not a peer address is one line', async () => {
    const got = await runCli(['get', folderCid, '--output-dir', path.join(dir, 'x')], { ...env, LILYPAD_IPFS_PEERS: '/ip4/127.0.0.1/tcp/4001' });
    expect(got.code).toBe(1);
    expect(got.stderr).toBe('Error: LILYPAD_IPFS_PEERS must be multiaddrs ending in /p2p/<peer id>, comma-separated\n');
  });
});
