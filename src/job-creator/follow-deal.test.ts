import { zeroAddress, type Address, type Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { secondsFromNow } from '../lib/clock.js';
import type { Deal, DealEvent, OnChainDealView } from '../protocol/deals.js';
import type { JobOffer } from '../protocol/offers.js';
import type { JobOfferPostResult, SolverClient } from '../solver/client.js';
import { followDeal } from './follow-deal.js';
import type { JobCreatorComponents, JobProgressEvent, RunJobOptions } from './types.js';

const id = `0x${'11'.repeat(32)}` as Hex;
const jobCreator = '0x00000000000000000000000000000000000000aa' as Address;
const provider = '0x00000000000000000000000000000000000000bb' as Address;
const offer = { terms: { jobCreator, expiry: secondsFromNow(600) } } as unknown as JobOffer;

/** A solver that answers the post with `posted` and lets the test send events; the chain reads `onChain`. */
function fakeNetwork(posted: JobOfferPostResult) {
  let send: ((event: DealEvent) => void) | undefined;
  let closed = false;
  let onChain: OnChainDealView = { state: 'none', jobCreator: zeroAddress } as unknown as OnChainDealView;
  const solver = {
    subscribe: (_request: unknown, onEvent: (event: DealEvent) => void) => {
      send = onEvent;
      return { ready: Promise.resolve(), close: () => (closed = true) };
    },
    postJobOffer: async () => posted,
  } as unknown as SolverClient;
  const components = { chain: { walletClient: {} }, domain: {}, solver, readDeal: async () => onChain } as unknown as JobCreatorComponents;
  return {
    components,
    send: (event: DealEvent) => send!(event),
    setOnChain: (view: Partial<OnChainDealView>) => (onChain = { ...onChain, ...view }),
    closed: () => closed,
  };
}

function options(extra: Partial<RunJobOptions> = {}): RunJobOptions {
  return { module: 'cowsay:v0.0.1', inputs: {}, maxPrice: 1n, mediators: [], resultsDir: '/nonexistent', ...extra };
}

const unfit: JobOfferPostResult = { id, state: 'pending', reason: 'no offer fits: 1 offer has too few GPUs' };

describe('followDeal', () => {
  it('with failWhenUnmatched, ends at once with the solver’s reason', async () => {
    const network = fakeNetwork(unfit);
    const events: JobProgressEvent[] = [];
    await expect(followDeal(id, offer, options({ failWhenUnmatched: true }), network.components, (e) => events.push(e))).rejects.toMatchObject({
      code: 'job-unmatched',
      message: 'no resource provider can take the job: no offer fits: 1 offer has too few GPUs',
    });
    expect(events.map((e) => e.type)).toEqual(['job:submitted']);
    expect(network.closed()).toBe(true);
  });

  it('without it, says why it waits, and stops when told', async () => {
    const network = fakeNetwork(unfit);
    const controller = new AbortController();
    const events: JobProgressEvent[] = [];
    const following = followDeal(id, offer, options({ signal: controller.signal }), network.components, (e) => {
      events.push(e);
      if (e.type === 'job:unmatched') controller.abort();
    });
    await expect(following).rejects.toMatchObject({ code: 'cancelled', message: 'the job was cancelled' });
    expect(events).toEqual([{ type: 'job:submitted', jobOfferId: id }, { type: 'job:unmatched', reason: unfit.reason }]);
    expect(network.closed()).toBe(true);
  });

  it('returns the deal once the chain shows its results, whatever the solver said', async () => {
    const deal = { dealId: id } as Deal;
    const network = fakeNetwork({ id, state: 'agreed', deal } as JobOfferPostResult);
    const events: JobProgressEvent[] = [];
    const following = followDeal(id, offer, options(), network.components, (e) => {
      events.push(e);
      if (e.type === 'job:submitted') {
        network.setOnChain({ state: 'results-submitted', jobCreator, resourceProvider: provider, price: 5n, resultCid: 'bafyresult' });
        network.send({ type: 'deal:agreed', deal });
      }
    });
    expect((await following).onChain.resultCid).toBe('bafyresult');
    expect(events.map((e) => e.type)).toEqual(['job:submitted', 'deal:agreed', 'results:submitted']);
    expect(network.closed()).toBe(true);
  });
});
