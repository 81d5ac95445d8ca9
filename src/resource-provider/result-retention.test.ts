/**
 * Results kept for the stated time: the sweep over a real blockstore on disk and a real provider.db removes an
 * expired result's blocks, keeps a block that a kept result shares, keeps the inputs of an open deal, and
 * the results server says until when a removed result was kept. Time moves by the injected clock only.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CID } from 'multiformats/cid';
import { createPublicClient, custom, type Hex } from 'viem';
import { foundry } from 'viem/chains';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signedJobOffer, signedResourceOffer, testDomain } from '../../test/fixtures/offers.js';
import { silentLogger } from '../lib/logger.js';
import { jobOfferId, resourceOfferId, toWire } from '../protocol/offers.js';
import { addBytes, addDirectory, cidOfBytes, exportDirectory, fetchDag, openBlockstore, SweepableBlockstore, type FsBlockstore } from '../storage/index.js';
import { openDealStore, type DealStage, type DealStore } from './deal-store.js';
import { createResultRetention } from './result-retention.js';
import { resultsApp, startResultsServer } from './results-server.js';

const DAY_MS = 86_400_000;

let dir: string;
let store: DealStore;
let disk: FsBlockstore;
let blockstore: SweepableBlockstore;
/** The clock the sweep reads; a test moves it forward. */
let now: number;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-result-retention-'));
  store = openDealStore(path.join(dir, 'provider.db'));
  disk = await openBlockstore(path.join(dir, 'blocks'));
  blockstore = new SweepableBlockstore(disk);
  now = Date.now();
});

afterEach(async () => {
  store.close();
  await blockstore.close();
  await rm(dir, { recursive: true, force: true });
});

/** A retention keeping results for one day, over this test's stores and clock. */
const retention = () => createResultRetention({ resultsKeptFor: 86_400 }, { blockstore, store: () => store, logger: silentLogger, now: () => now });

/** A deal of this provider in the deal store at `stage`, with `resultCid` when given. */
async function storedDeal(name: string, stage: DealStage, resultCid?: string): Promise<Hex> {
  const jobOffer = await signedJobOffer({ inputs: { Message: name } });
  const resourceOffer = await signedResourceOffer();
  const dealId = jobOfferId(testDomain, jobOffer.terms);
  store.add({ dealId, resourceOfferId: resourceOfferId(testDomain, resourceOffer.terms), state: 'matched', jobOffer, resourceOffer });
  store.setStage(dealId, stage, { resultCid });
  return dealId;
}

/** A result folder with a file of its own and `shared`, which another result holds too. */
async function addResult(name: string, shared: Uint8Array): Promise<string> {
  const folder = path.join(dir, 'jobs', name);
  await mkdir(path.join(folder, 'outputs'), { recursive: true });
  await writeFile(path.join(folder, 'stdout'), `result ${name}\n`);
  await writeFile(path.join(folder, 'outputs', 'shared.bin'), shared);
  return (await addDirectory(folder, blockstore)).toString();
}

/** Every block of the result, read back whole into a folder, and its shared file's bytes. */
async function readWhole(cid: string): Promise<Buffer> {
  const out = path.join(dir, 'out', cid);
  await rm(out, { recursive: true, force: true });
  await exportDirectory(CID.parse(cid), blockstore, out);
  return readFile(path.join(out, 'outputs', 'shared.bin'));
}

describe('the sweep of kept results', () => {
  it('removes an expired result’s own blocks and keeps the blocks it shares with a result still kept, whole', async () => {
    // Larger than one chunk: the shared file is several blocks that both DAGs link.
    const shared = randomBytes(600_000);
    const expired = await addResult('expired', shared);
    const kept = await addResult('kept', shared);
    await storedDeal('expired', 'done', expired);
    await storedDeal('kept', 'submitted', kept);

    // Both kept (the importer's passing blocks, that no root reaches, go).
    await retention().sweep();
    expect(Buffer.compare(await readWhole(expired), shared)).toBe(0);
    expect(Buffer.compare(await readWhole(kept), shared)).toBe(0);

    now += 2 * DAY_MS;
    const swept = await retention().sweep();
    // The expired folder's root and its own stdout block go; the shared file's blocks stay.
    expect(swept.removed).toBe(2);
    expect(swept.removedBytes).toBeGreaterThan(0);
    expect(await disk.has(CID.parse(expired))).toBe(false);
    expect(Buffer.compare(await readWhole(kept), shared)).toBe(0);
  });

  it('keeps a result for the stated time after its deal ended, then removes every block of it', async () => {
    const result = await addResult('once', randomBytes(300_000));
    await storedDeal('once', 'done', result);
    await retention().sweep();
    now += 0.9 * DAY_MS;
    expect((await retention().sweep()).removed).toBe(0);
    expect((await readWhole(result)).byteLength).toBe(300_000);

    now += 0.2 * DAY_MS;
    const swept = await retention().sweep();
    expect(swept.removed).toBe(swept.blocks);
    expect(swept.removedBytes).toBeGreaterThan(300_000);
  });

  it('keeps the inputs of a deal that has not ended, however long ago they came, and lets them go once it has', async () => {
    const input = (await addBytes(randomBytes(2_000), blockstore)).toString();
    const dealId = await storedDeal('with-input', 'agreed');
    store.setInputs(dealId, [input]);
    now += 30 * DAY_MS;
    expect((await retention().sweep()).removed).toBe(0);

    // Ended: its inputs go at the next sweep, without waiting for the keeping time (only results wait).
    store.setStage(dealId, 'done');
    expect((await retention().sweep()).removed).toBe(1);
  });

  it('keeps a block written while it sweeps, though no deal names it yet', async () => {
    const stale = await addBytes(randomBytes(1_000), blockstore);
    const sweeping = retention().sweep();
    // A job importing its result now: its root is recorded only after the import.
    const fresh = await addBytes(randomBytes(1_000), blockstore);
    await sweeping;
    expect(await disk.has(fresh)).toBe(true);
    // The next sweep, with no write during it, removes both (no deal keeps them).
    await retention().sweep();
    expect(await disk.has(stale)).toBe(false);
    expect(await disk.has(fresh)).toBe(false);
  });

  it('keeps the blocks of an import still at work, written before the sweep began, until it has recorded its root', async () => {
    const bytes = randomBytes(1_000);
    const cid = await cidOfBytes(bytes);
    let written!: () => void;
    let finish!: () => void;
    const wasWritten = new Promise<void>((resolve) => (written = resolve));
    const importing = blockstore.holding(async (blocks) => {
      await blocks.put(cid, bytes);
      written();
      // The rest of a long import; its root is not recorded yet.
      await new Promise<void>((resolve) => (finish = resolve));
    });
    await wasWritten;
    now += 30 * DAY_MS;
    await retention().sweep();
    expect(await disk.has(cid)).toBe(true);

    finish();
    await importing;
    // Let go of, with no root recorded: the next sweep removes it.
    await retention().sweep();
    expect(await disk.has(cid)).toBe(false);
  });

  it('sweeps once at start', async () => {
    const result = await addResult('old', randomBytes(1_000));
    await storedDeal('old', 'done', result);
    now += 2 * DAY_MS;
    const started = retention();
    started.start();
    // Sweeps run one after another: this one finds nothing left by the one at start.
    expect((await started.sweep()).removed).toBe(0);
    await started.stop();
    expect(await disk.has(CID.parse(result))).toBe(false);
  });

  it('works on a provider.db made before results were kept: an ended deal ends at its last update', async () => {
    const file = path.join(dir, 'old-provider.db');
    const jobOffer = await signedJobOffer({ inputs: { Message: 'from before' } });
    const resourceOffer = await signedResourceOffer();
    const dealId = jobOfferId(testDomain, jobOffer.terms);
    const deal = { dealId, resourceOfferId: resourceOfferId(testDomain, resourceOffer.terms), state: 'matched', jobOffer, resourceOffer };
    const old = new Database(file);
    // The deals table as it was before `ended_at` and `input_cids`.
    old.exec(`CREATE TABLE deals (deal_id TEXT PRIMARY KEY, deal TEXT NOT NULL, stage TEXT NOT NULL, result_cid TEXT, match_acceptance TEXT,
      acceptance TEXT, error TEXT, updated_at INTEGER NOT NULL)`);
    old.prepare('INSERT INTO deals (deal_id, deal, stage, result_cid, updated_at) VALUES (?, ?, ?, ?, ?)').run(dealId.toLowerCase(), JSON.stringify(toWire(deal)), 'done', 'bafyold', 1_700_000_000_000);
    old.close();

    const migrated = openDealStore(file);
    try {
      expect(migrated.get(dealId)).toMatchObject({ stage: 'done', resultCid: 'bafyold', endedAt: 1_700_000_000_000, inputCids: [] });
      expect(migrated.liveRoots(1_700_000_000_000)).toEqual(['bafyold']);
      expect(migrated.liveRoots(1_700_000_000_001)).toEqual([]);
    } finally {
      migrated.close();
    }
    // Opened again: nothing to add twice.
    openDealStore(file).close();
  });
});

describe('the results server after a sweep', () => {
  it('answers a removed result with 404 and until when it was kept; a result still kept is served', async () => {
    const gone = await addResult('gone', randomBytes(1_000));
    const here = await addResult('here', randomBytes(1_000));
    await storedDeal('gone', 'done', gone);
    await storedDeal('here', 'submitted', here);
    const endedAt = store.resultEndedAt(gone)!;
    now += 2 * DAY_MS;
    await retention().sweep();

    const publicClient = createPublicClient({ chain: foundry, transport: custom({ request: async () => { throw new Error('no chain here'); } }) });
    const app = resultsApp({ resultsKeptFor: 86_400 }, { chain: { publicClient }, domain: testDomain, blockstore, store: () => store, settle: () => undefined });
    const response = await app.request(`/ipfs/${gone}?format=car`);
    expect(response.status).toBe(404);
    const until = new Date(endedAt + DAY_MS).toISOString();
    expect(await response.json()).toEqual({ error: { code: 'result-expired', message: `the provider kept this result until ${until}; it is no longer held here` } });
    expect((await app.request(`/ipfs/${here}?format=car`)).status).toBe(200);

    // A job creator coming back for it is told the same, at once.
    const server = await startResultsServer({}, store, app);
    try {
      const into = await openBlockstore(path.join(dir, 'job-creator-blocks'));
      await expect(fetchDag(CID.parse(gone), { gatewayUrl: server.url, blockstore: into })).rejects.toThrow(`the provider kept this result until ${until}`);
      await into.close();
    } finally {
      await server.close();
    }
  });
});
