/**
 * Waiting that a stop cuts short: `sleep`, and `Mailbox` for a loop that waits for whichever comes first,
 * a message from a callback or its next due time. Both take their abort listener off once the wait is
 * over, so a loop that waits thousands of times leaves no listeners behind on a long-lived signal.
 */

/**
 * Resolves after `ms`; rejects at once when `signal` aborts, with `aborted()` (default: the signal's
 * reason), so that each caller can say in its own words what was stopped.
 */
export function sleep(ms: number, signal?: AbortSignal, aborted: () => unknown = () => signal?.reason): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.min(Math.max(0, ms), 2 ** 31 - 1)); // a longer delay would fire at once
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Messages that callbacks push, taken in order by one waiting loop. */
export class Mailbox<T> {
  private readonly queue: T[] = [];
  private wake: (() => void) | undefined;

  push(message: T): void {
    this.queue.push(message);
    this.wake?.();
  }

  /** The next message, or undefined once `ms` passed without one; rejects with `aborted()` once `signal` aborts. */
  async next(ms: number, signal?: AbortSignal, aborted: () => unknown = () => signal?.reason): Promise<T | undefined> {
    if (signal?.aborted) throw aborted();
    if (this.queue.length === 0) {
      const woken = new AbortController();
      const wake = () => woken.abort();
      this.wake = wake;
      signal?.addEventListener('abort', wake, { once: true });
      try {
        await sleep(ms, woken.signal).catch(() => undefined);
      } finally {
        this.wake = undefined;
        signal?.removeEventListener('abort', wake);
      }
    }
    if (signal?.aborted) throw aborted();
    return this.queue.shift();
  }
}
