/**
 * Token buckets keyed by who is asking (an address once its signature is checked, otherwise an IP):
 * `rate` requests a second on average, bursts up to `burst`. Buckets that have refilled are forgotten.
 */
export interface RateLimit {
  /** Requests per second, on average. */
  rate: number;
  /** Requests at once. */
  burst: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  private bucket(key: string) {
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size > 10_000) this.sweep(now);
      bucket = { tokens: this.limit.burst, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.rate);
    bucket.at = now;
    return bucket;
  }

  /** Takes one token; returns 0 when allowed, else the milliseconds until a token is back. */
  take(key: string): number {
    const bucket = this.bucket(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.limit.rate) * 1000);
  }

  /** Whether `key` has a token, without taking it. */
  allows(key: string): boolean {
    return this.bucket(key).tokens >= 1;
  }

  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.limit.rate >= this.limit.burst) this.buckets.delete(key);
    }
  }
}
