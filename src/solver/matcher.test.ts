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

  it('a GPU job goes only to offers with the cards and, where it asks, that memory on each card', async () => {
    // sdxl's need as its job offer says it: one card with 24000 MB.
    const job = await signedJobOffer({ machine: { cpu: 8000, gpu: 1000, ram: 16000, gpuMemory: 24000 } });
    const machine = (gpu: number, gpuMemory?: number) => ({ cpu: 16000, gpu, ram: 65536, ...(gpuMemory !== undefined ? { gpuMemory } : {}) });
    const noGpu = stored(await signedResourceOffer({ details: { machine: machine(0) } }), 0);
    const small = stored(await signedResourceOffer({ details: { machine: machine(2000, 16000) }, terms: { price: 1n } }), 1);
    const unsaid = stored(await signedResourceOffer({ details: { machine: machine(1000) }, terms: { price: 1n } }), 2);
    const big = stored(await signedResourceOffer({ details: { machine: machine(1000, 81920) }, terms: { price: 3n } }), 3);
    const result = matchJobOffer(job, [noGpu, small, unsaid, big], now);
    expect(result.matched && result.resourceOffer).toBe(big);
    expect(matchJobOffer(job, [noGpu, small, unsaid], now)).toEqual({
      matched: false,
      reason: 'no offer fits: 2 offers have too little GPU memory, 1 offer has too few GPUs',
    });
    // Two cards are asked as 2000; a one-card machine has too few, however much memory it has.
    const twoCards = await signedJobOffer({ machine: { cpu: 1000, gpu: 2000, ram: 512 } });
    expect(matchJobOffer(twoCards, [big], now)).toEqual({ matched: false, reason: 'no offer fits: 1 offer has too few GPUs' });
    expect(matchJobOffer(twoCards, [small], now).matched).toBe(true);
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
  const moduleName = 'cowsay:v0.0.1';
  // Each way to misfit is drawn now and then, so that most jobs have several fitting offers, often at one price.
  const usually = <T,>(value: T, ...others: T[]) => fc.oneof({ arbitrary: fc.constant(value), weight: 5 }, { arbitrary: fc.constantFrom(...others), weight: 1 });
  const offerMachine = fc.record({ cpu: fc.constantFrom(500, 1000, 2000, 4000), gpu: fc.constantFrom(0, 1000, 1000), ram: fc.constantFrom(256, 1024, 4096) });
  const jobMachine = fc.record({ cpu: fc.constantFrom(500, 1000, 2000), gpu: fc.constantFrom(0, 0, 1000), ram: fc.constantFrom(256, 1024) });
  const resourceOffer = fc.record({
    price: fc.bigInt({ min: 1n, max: 4n }),
    capacity: fc.bigInt({ min: 1n, max: 3n }),
    used: usually(0, 1, 3),
    expired: usually(false, true),
    mediators: fc.subarray([...mediators], { minLength: 1 }),
    engines: usually<Array<'wasm' | 'docker'>>(['wasm', 'docker'], ['wasm'], ['docker']),
    modules: usually<string[]>([], [moduleName], ['sdxl:v1']),
    refusedModules: usually<string[] | undefined>(undefined, [moduleName], ['sdxl:v1']),
    machine: offerMachine,
    // What the solver knows of the offer's provider (standing.ts): able to take the deal, or not and why.
    provider: usually<ProviderMisfit | undefined>(undefined, 'collateral', 'offline', 'stale'),
  });
  const jobOffer = fc.record({
    expired: usually(false, true),
    maxPrice: fc.bigInt({ min: 1n, max: 6n }),
    mediators: fc.subarray([...mediators], { minLength: 1 }),
    engine: fc.constantFrom('wasm', 'docker'),
    machine: jobMachine,
  });

  type GeneratedOffer = typeof resourceOffer extends fc.Arbitrary<infer T> ? T : never;
  type GeneratedJob = typeof jobOffer extends fc.Arbitrary<infer T> ? T : never;

  /**
   * Whether an offer fits a job, stated from the generated figures alone (not with the matcher's code):
   * not expired, capacity left, the engine, the module allowed and not refused, enough machine, within the
   * price ceiling, a mediator in common, and a provider able to take it.
   */
  function fitsByRule(o: GeneratedOffer, used: number, j: GeneratedJob): boolean {
    return (
      !o.expired &&
      used < Number(o.capacity) &&
      o.engines.includes(j.engine) &&
      (o.modules.length === 0 || o.modules.includes(moduleName)) &&
      !o.refusedModules?.includes(moduleName) &&
      o.machine.cpu >= j.machine.cpu &&
      o.machine.gpu >= j.machine.gpu &&
      o.machine.ram >= j.machine.ram &&
      o.price <= j.maxPrice &&
      o.mediators.some((m) => j.mediators.includes(m)) &&
      o.provider === undefined
    );
  }

  /** The sum of the counts in a "no offer fits: 2 offers …, 1 offer …" reason. */
  const countedIn = (reason: string) => reason.replace('no offer fits: ', '').split(', ').reduce((sum, part) => sum + Number.parseInt(part, 10), 0);

  it('matches as the rules say, the index as every offer checked one by one: cheapest fit wins, never past capacity, never expired', async () => {
    const template = await signedResourceOffer();
    const job0 = await signedJobOffer({ moduleName });
    fc.assert(
      fc.property(fc.array(resourceOffer, { maxLength: 25, size: 'max' }), fc.array(jobOffer, { minLength: 1, maxLength: 10 }), (offers, jobs) => {
        const index = new ResourceOfferIndex();
        const naive: StoredResourceOffer[] = [];
        const generated = new Map<string, GeneratedOffer>();
        const providerCheck: ProviderCheck = (stored) => generated.get(stored.id)!.provider;
        for (const [i, o] of offers.entries()) {
          const offer = {
            ...template,
            terms: { ...template.terms, price: o.price, capacity: o.capacity, mediators: o.mediators, expiry: o.expired ? now - 1n : now + 60n },
            details: { ...template.details, engines: [...o.engines], modules: [...o.modules], refusedModules: o.refusedModules && [...o.refusedModules], machine: o.machine },
          };
          const stored = { id: `0x${(i * 7919 % 101).toString(16).padStart(64, '0')}${i}`, offer, used: Math.min(o.used, Number(o.capacity)), receivedAt: i % 5 };
          generated.set(stored.id, o);
          index.add(stored);
          naive.push(stored);
        }
        for (const j of jobs) {
          const job = {
            ...job0,
            engine: j.engine,
            machine: j.machine,
            terms: { ...job0.terms, maxPrice: j.maxPrice, mediators: j.mediators, expiry: j.expired ? now - 1n : now + 60n },
          };
          const reference = matchJobOffer(job, naive, now, providerCheck);
          const indexed = index.match(job, now, providerCheck);
          const fits = j.expired ? [] : naive.filter((stored) => fitsByRule(generated.get(stored.id)!, stored.used, j));

          if (fits.length === 0) {
            expect(reference.matched).toBe(false);
            expect(indexed.matched).toBe(false);
            const reason = !reference.matched && reference.reason;
            if (j.expired) expect(reason).toBe('the job offer has expired');
            else if (offers.length === 0) expect(reason).toBe('no resource offers are posted');
            // Every offer is counted once, under the first thing it lacks.
            else expect(countedIn(reason as string)).toBe(offers.length);
            continue;
          }
          if (!reference.matched || !indexed.matched) throw new Error(`an offer fits, yet: ${JSON.stringify([reference, indexed].find((r) => !r.matched))}`);
          // The index walks its lists; the reference looks at every offer: they pick the same one.
          expect(indexed.resourceOffer.id).toBe(reference.resourceOffer.id);
          expect(indexed.mediator).toBe(reference.mediator);
          const winner = reference.resourceOffer;
          const o = generated.get(winner.id)!;
          // It fits, it is the cheapest fit, the oldest of the cheapest, and its mediator is the job's first shared one.
          expect(fits).toContain(winner);
          expect(o.expired).toBe(false);
          const cheapest = fits.reduce((low, stored) => (stored.offer.terms.price < low ? stored.offer.terms.price : low), winner.offer.terms.price);
          expect(winner.offer.terms.price).toBe(cheapest);
          expect(winner.receivedAt).toBe(Math.min(...fits.filter((stored) => stored.offer.terms.price === cheapest).map((stored) => stored.receivedAt)));
          expect(reference.mediator).toBe(j.mediators.find((m) => o.mediators.includes(m)));
          // The deal takes one of its capacity, as the order book does.
          expect(winner.used).toBeLessThan(Number(o.capacity));
          winner.used += 1;
          index.used(winner);
        }
        for (const stored of naive) expect(stored.used).toBeLessThanOrEqual(Number(stored.offer.terms.capacity));
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) },
    );
  });
});
