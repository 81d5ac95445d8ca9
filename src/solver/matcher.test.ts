import { describe, expect, it } from 'vitest';
import { mediatorA, mediatorB, providerAccounts, signedJobOffer, signedResourceOffer } from '../../test/fixtures/offers.js';
import { matchJobOffer, type StoredResourceOffer } from './matcher.js';

const now = BigInt(Math.floor(Date.now() / 1000));

function stored(offer: StoredResourceOffer['offer'], receivedAt: number, used = 0): StoredResourceOffer {
  return { id: `0x${receivedAt.toString(16).padStart(64, '0')}`, offer, used, receivedAt };
}

describe('matchJobOffer', () => {
  it('picks the cheapest fitting offer, then the oldest', async () => {
    const job = await signedJobOffer();
    const dear = stored(await signedResourceOffer({ terms: { price: 5n } }), 0);
    const cheapNew = stored(await signedResourceOffer({ terms: { price: 2n } }, providerAccounts[1]), 2);
    const cheapOld = stored(await signedResourceOffer({ terms: { price: 2n } }), 1);
    const result = matchJobOffer(job, [dear, cheapNew, cheapOld], now);
    expect(result.matched && result.resourceOffer).toBe(cheapOld);
    expect(result.matched && result.mediator).toBe(mediatorA);
  });

  it('compares mediators as addresses, not strings', async () => {
    const job = await signedJobOffer({ terms: { mediators: [mediatorA.toLowerCase() as `0x${string}`] } });
    const offer = stored(await signedResourceOffer({ terms: { mediators: [mediatorA] } }), 0);
    expect(matchJobOffer(job, [offer], now).matched).toBe(true);
  });

  it('says why nothing fits, summarised over all offers', async () => {
    const job = await signedJobOffer({ machine: { cpu: 1000, gpu: 1000, ram: 512 }, terms: { maxPrice: 3n } });
    const offers = [
      stored(await signedResourceOffer({ details: { machine: { cpu: 8000, gpu: 0, ram: 8192 } } }), 0),
      stored(await signedResourceOffer({ details: { machine: { cpu: 8000, gpu: 0, ram: 8192 } } }), 1),
      stored(await signedResourceOffer({ details: { machine: { cpu: 8000, gpu: 2000, ram: 8192 }, modules: ['sdxl:v1'] } }), 2),
      stored(await signedResourceOffer({ details: { machine: { cpu: 8000, gpu: 2000, ram: 8192 } }, terms: { price: 4n } }), 3),
      stored(await signedResourceOffer({ details: { machine: { cpu: 8000, gpu: 2000, ram: 8192 } }, terms: { price: 1n, mediators: [mediatorB] } }), 4),
      stored(await signedResourceOffer({ details: { machine: { cpu: 8000, gpu: 2000, ram: 8192 } }, terms: { price: 1n, capacity: 1n } }), 5, 1),
    ];
    const result = matchJobOffer(job, offers, now);
    expect(result).toEqual({
      matched: false,
      reason:
        'no offer fits: 2 offers have too few GPUs, 1 offer does not allow this module, 1 offer costs more than the price ceiling, ' +
        '1 offer shares no mediator, 1 offer has no capacity left',
    });
  });

  it('allows a module by name or by id, and skips expired offers', async () => {
    const job = await signedJobOffer();
    const byName = stored(await signedResourceOffer({ details: { modules: ['cowsay:v0.0.1'] } }), 0);
    const byId = stored(await signedResourceOffer({ details: { modules: [job.terms.moduleId] } }), 1);
    const expired = stored(await signedResourceOffer({ terms: { expiry: now - 1n, price: 0n } }), 2);
    expect(matchJobOffer(job, [byName], now).matched).toBe(true);
    expect(matchJobOffer(job, [byId], now).matched).toBe(true);
    expect(matchJobOffer(job, [expired], now)).toEqual({ matched: false, reason: 'no offer fits: 1 offer has expired' });
    expect(matchJobOffer(job, [], now)).toEqual({ matched: false, reason: 'no resource offers are posted' });
  });
});
