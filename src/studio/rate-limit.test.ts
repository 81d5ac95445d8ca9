import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limit.js';

describe('the token bucket', () => {
  it('allows a burst, then one request per refill, per key', () => {
    let now = 0;
    const limiter = createRateLimiter({ burst: 3, perSecond: 0.5 }, () => now);
    expect([1, 2, 3].map(() => limiter.take('a').ok)).toEqual([true, true, true]);
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 2 });
    // Another key has its own bucket.
    expect(limiter.take('b').ok).toBe(true);
    now = 1000;
    expect(limiter.take('a')).toEqual({ ok: false, retryAfterSeconds: 1 });
    now = 2000;
    expect(limiter.take('a').ok).toBe(true);
    // A long wait refills to the burst, not beyond.
    now = 60_000;
    expect([1, 2, 3, 4].map(() => limiter.take('a').ok)).toEqual([true, true, true, false]);
  });
});
