import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mediatorA, mediatorB, providerAccounts, signedJobOffer, signedResourceOffer } from '../../test/fixtures/offers.js';
import { nowSeconds } from '../lib/clock.js';
import { parseResourceOffer, toWire } from '../protocol/offers.js';
import { matchJobOffer, ResourceOfferIndex, type ProviderCheck, type ProviderMisfit, type StoredResourceOffer } from './matcher.js';

const now = nowSeconds();

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

  it('skips an offer that refuses the module, by name or by id, and says so', async () => {
    const job = await signedJobOffer();
    const refusesByName = stored(await signedResourceOffer({ details: { refusedModules: ['cowsay:v0.0.1'] }, terms: { price: 1n } }), 0);
    const refusesById = stored(await signedResourceOffer({ details: { refusedModules: [job.terms.moduleId.toUpperCase().replace('0X', '0x')] }, terms: { price: 1n } }), 1);
    const refusesOther = stored(await signedResourceOffer({ details: { refusedModules: ['sdxl:v1'] }, terms: { price: 3n } }), 2);
    expect(matchJobOffer(job, [refusesByName], now)).toEqual({ matched: false, reason: 'no offer fits: 1 offer refuses this module' });
    expect(matchJobOffer(job, [refusesByName, refusesById], now)).toEqual({ matched: false, reason: 'no offer fits: 2 offers refuse this module' });
    // The cheaper offers refuse it, so the dearer one that only refuses another module wins, in the index too.
    const result = matchJobOffer(job, [refusesByName, refusesById, refusesOther], now);
    expect(result.matched && result.resourceOffer).toBe(refusesOther);
    const index = new ResourceOfferIndex();
    for (const offer of [refusesByName, refusesById, refusesOther]) index.add(offer);
    const indexed = index.match(job, now);
    expect(indexed.matched && indexed.resourceOffer).toBe(refusesOther);
    const refusingOnly = new ResourceOfferIndex();
    refusingOnly.add(refusesByName);
    expect(refusingOnly.match(job, now)).toEqual({ matched: false, reason: 'no offer fits: 1 offer refuses this module' });
  });

  it('covers refusals with the signed details hash', async () => {
    const offer = await signedResourceOffer({ details: { refusedModules: ['cowsay:v0.0.1'] } });
    expect(parseResourceOffer(toWire(offer)).details.refusedModules).toEqual(['cowsay:v0.0.1']);
    const stripped = { ...offer, details: { ...offer.details, refusedModules: [] } };
    expect(() => parseResourceOffer(toWire(stripped))).toThrow(/detailsHash does not match/);
    const { refusedModules: _, ...withoutRefusals } = offer.details;
    expect(() => parseResourceOffer(toWire({ ...offer, details: withoutRefusals }))).toThrow(/detailsHash does not match/);
  });
});

describe('ResourceOfferIndex', () => {
  const mediators = [mediatorA, mediatorB, '0x0000000000000000000000000000000000000a11'] as const;
  const machine = fc.record({ cpu: fc.constantFrom(500, 1000, 2000), gpu: fc.constantFrom(0, 1000), ram: fc.constantFrom(256, 1024) });
  const resourceOffer = fc.record({
    price: fc.bigInt({ min: 1n, max: 6n }),
    capacity: fc.bigInt({ min: 1n, max: 3n }),
    used: fc.nat({ max: 3 }),
    expired: fc.boolean(),
    mediators: fc.subarray([...mediators], { minLength: 1 }),
    engines: fc.subarray(['wasm', 'docker'] as const, { minLength: 1 }),
    modules: fc.constantFrom([], ['cowsay:v0.0.1'], ['sdxl:v1']),
    refusedModules: fc.constantFrom(undefined, ['cowsay:v0.0.1'], ['sdxl:v1']),
    machine,
    // What the solver knows of the offer's provider (standing.ts): able to take the deal, or not and why.
    provider: fc.constantFrom(undefined, undefined, 'collateral', 'offline', 'stale'),
  });
  const jobOffer = fc.record({
    maxPrice: fc.bigInt({ min: 1n, max: 6n }),
    mediators: fc.subarray([...mediators], { minLength: 1 }),
    engine: fc.constantFrom('wasm', 'docker'),
    machine,
  });

  it('gives the same answer as matching against every offer, reasons included', async () => {
    const template = await signedResourceOffer();
    const job0 = await signedJobOffer();
    fc.assert(
      fc.property(fc.array(resourceOffer, { maxLength: 25 }), fc.array(jobOffer, { minLength: 1, maxLength: 10 }), (offers, jobs) => {
        const index = new ResourceOfferIndex();
        const naive: StoredResourceOffer[] = [];
        const standing = new Map<string, ProviderMisfit | undefined>();
        const providerCheck: ProviderCheck = (stored) => standing.get(stored.id);
        for (const [i, o] of offers.entries()) {
          const offer = {
            ...template,
            terms: { ...template.terms, price: o.price, capacity: o.capacity, mediators: o.mediators, expiry: o.expired ? now - 1n : now + 60n },
            details: { ...template.details, engines: [...o.engines], modules: [...o.modules], refusedModules: o.refusedModules && [...o.refusedModules], machine: o.machine },
          };
          const stored = { id: `0x${(i * 7919 % 101).toString(16).padStart(64, '0')}${i}`, offer, used: Math.min(o.used, Number(o.capacity)), receivedAt: i % 5 };
          standing.set(stored.id, o.provider);
          index.add(stored);
          naive.push(stored);
        }
        for (const j of jobs) {
          const job = { ...job0, engine: j.engine, machine: j.machine, terms: { ...job0.terms, maxPrice: j.maxPrice, mediators: j.mediators } };
          const expected = matchJobOffer(job, naive, now, providerCheck);
          const actual = index.match(job, now, providerCheck);
          if (expected.matched && actual.matched) {
            expect(actual.resourceOffer.id).toBe(expected.resourceOffer.id);
            expect(actual.mediator).toBe(expected.mediator);
            // Both take the capacity, as the order book does.
            actual.resourceOffer.used += 1;
            index.used(actual.resourceOffer);
          } else {
            expect(actual).toEqual(expected);
          }
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });
});
