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

  it('forgets the buckets that refilled, so that many keys or emails once seen do not grow its memory', () => {
    let now = 0;
    const limiter = createRateLimiter({ burst: 2, perSecond: 1 }, () => now);
    for (let i = 0; i < 999; i++) limiter.take(`guess-${i}@example.com`);
    expect(limiter.size()).toBe(999);
    limiter.take('busy');
    limiter.take('busy');
    // 1.5 s on, every bucket has refilled but the one still being drained.
    now = 1500;
    for (let i = 0; i < 1000; i++) limiter.take('busy');
    expect(limiter.size()).toBe(1);
    // A forgotten key starts with a full burst, as it would have had.
    expect([limiter.take('guess-1@example.com').ok, limiter.take('guess-1@example.com').ok, limiter.take('guess-1@example.com').ok]).toEqual([true, true, false]);
  });
});
