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
}

export function createRateLimiter(limit: RateLimit, now: () => number = Date.now): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key) {
      const at = now();
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
