import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEther } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLilypadWalletClient } from '../chain/index.js';
import { silentLogger } from '../lib/logger.js';
import { OfferError, parseResourceOffer, toWire, verifyResourceOfferSignature, type ResourceOffer } from '../protocol/offers.js';
import { openDealStore, type DealStore } from './deal-store.js';
import { createOfferPoster, type OfferPosterConfig } from './offer-poster.js';

const domain = { chainId: 31337, dealsAddress: privateKeyToAccount(generatePrivateKey()).address };
const config: OfferPosterConfig = {
  price: parseEther('0.1'),
  collateralMultiple: 2n,
  capacity: 2,
  machine: { cpu: 1000, gpu: 0, ram: 512 },
  modules: [],
  refuseModules: ['flaky:v1'],
  mediators: [privateKeyToAccount(generatePrivateKey()).address],
};

let dir: string;
let store: DealStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-offer-poster-'));
  store = openDealStore(path.join(dir, 'provider.db'));
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A poster whose solver keeps what it is sent; `failures` posts are refused first, as by a solver that is away. */
function poster(failures = 0, posterConfig: OfferPosterConfig = config) {
  const posted: ResourceOffer[] = [];
  // Signing is local: the RPC address is never called.
  const walletClient = createLilypadWalletClient({ rpcUrl: 'http://127.0.0.1:9', chainId: domain.chainId, privateKey: generatePrivateKey() });
  const offers = createOfferPoster(posterConfig, {
    chain: { walletClient },
    domain,
    solver: {
      async postResourceOffer(offer) {
        if (failures > 0) {
          failures -= 1;
          throw new Error('solver unreachable');
        }
        posted.push(offer);
        return '0x';
      },
    },
    executors: [
      { engine: 'wasm', isAvailable: async () => true },
      { engine: 'docker', isAvailable: async () => false },
    ],
    store: () => store,
    logger: silentLogger,
  });
  return { offers, posted, address: walletClient.account.address };
}

describe('offer poster', () => {
  it('posts a signed offer with its results address, engines, refused modules and free capacity, kept in the deal store', async () => {
    const { offers, posted, address } = poster();
    await offers.start('http://127.0.0.1:4000');
    await offers.keepPosted(true);
    expect(posted).toHaveLength(1);
    const [offer] = posted;
    expect(offer.details).toMatchObject({ resultsUrl: 'http://127.0.0.1:4000', engines: ['wasm'], refusedModules: ['flaky:v1'] });
    expect(offer.terms).toMatchObject({ resourceProvider: address, capacity: 2n });
    expect(await verifyResourceOfferSignature(domain, offer)).toBe(true);
    expect(store.currentOffer()?.offer.signature).toBe(offer.signature);
    await offers.stop();
  });

  it('says in the signed details how long it keeps results: 7 days unless configured', async () => {
    const byDefault = poster();
    const configured = poster(0, { ...config, resultsKeptFor: 3600 });
    for (const { offers } of [byDefault, configured]) {
      await offers.start('http://127.0.0.1:4000');
      await offers.keepPosted(true);
      await offers.stop();
    }
    expect(byDefault.posted[0]!.details.resultsKeptSeconds).toBe(7 * 24 * 3600);
    const [offer] = configured.posted;
    expect(offer!.details.resultsKeptSeconds).toBe(3600);
    // The signature covers it: the details hash is signed, and a longer keeping time no longer matches it.
    expect(parseResourceOffer(toWire(offer)).details.resultsKeptSeconds).toBe(3600);
    const stretched = toWire({ ...offer, details: { ...offer!.details, resultsKeptSeconds: 30 * 24 * 3600 } });
    expect(() => parseResourceOffer(stretched)).toThrow(OfferError);
    expect(() => parseResourceOffer(stretched)).toThrow('resource offer detailsHash does not match its details');
  });

  it('posts a fresh offer once the deals matched into the current one have used it up', async () => {
    const { offers, posted } = poster();
    await offers.start('http://127.0.0.1:4000');
    await offers.keepPosted(true);
    const first = store.currentOffer()!;
    offers.countUse(first.id);
    await offers.keepPosted();
    expect(posted).toHaveLength(1);
    offers.countUse(first.id);
    await offers.keepPosted();
    expect(posted).toHaveLength(2);
    expect(store.getOffer(first.id)?.uses).toBe(2);
    await offers.stop();
  });

  it('posts again after a post the solver did not take', async () => {
    const { offers, posted } = poster(1);
    await offers.start('http://127.0.0.1:4000');
    await expect(offers.keepPosted(true)).rejects.toThrow('solver unreachable');
    await offers.keepPosted(true);
    expect(posted).toHaveLength(1);
    await offers.stop();
  });

  it('posts nothing before it is started or after it is stopped', async () => {
    const { offers, posted } = poster();
    await offers.keepPosted(true);
    await offers.start('http://127.0.0.1:4000');
    await offers.stop();
    await offers.keepPosted(true);
    expect(posted).toHaveLength(0);
  });
});
