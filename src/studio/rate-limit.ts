/**
 * A token bucket per API key (and per email for sign-in attempts): `burst` requests at once, refilled at `perSecond`. In memory: a restart forgives
 * everyone, which is harmless for a limit that protects the studio, not a quota that is sold.
 */
export interface RateLimit {
  burst: number;
  perSecond: number;
}

export const DEFAULT_API_RATE_LIMIT: RateLimit = { burst: 30, perSecond: 1 };
/** Sign-in attempts per email address. */
export const SIGN_IN_RATE_LIMIT: RateLimit = { burst: 10, perSecond: 1 / 30 };

export interface RateLimiter {
  /** Takes one token: `ok`, or how many seconds until one is there. */
  take(key: string): { ok: true } | { ok: false; retryAfterSeconds: number };
  /** How many keys it holds a bucket for (a full bucket is forgotten, so this stays near the keys in use). */
  size(): number;
}

/** Every this many takes, buckets that have refilled to the burst are forgotten: a new one would be the same. */
const SWEEP_EVERY = 1000;

export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  let takes = 0;
  const sweep = (at: number) => {
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + ((at - bucket.at) / 1000) * limit.perSecond >= limit.burst) buckets.delete(key);
    }
  };
  return {
    size: () => buckets.size,
    take(key) {
      const at = now();
      if (++takes % SWEEP_EVERY === 0) sweep(at);
      const bucket = buckets.get(key) ?? { tokens: limit.burst, at };
      bucket.tokens = Math.min(limit.burst, bucket.tokens + ((at - bucket.at) / 1000) * limit.perSecond);
      bucket.at = at;
      buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond)) };
    },
  };
}
