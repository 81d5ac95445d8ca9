/**
 * The provider's job slots: a counting semaphore, so that at most `capacity` deals are moved along (and
 * their jobs run) at once; the rest wait in the order they came.
 */

export interface JobSlots {
  run<T>(task: () => Promise<T>): Promise<T>;
}

export function createJobSlots(size: number): JobSlots {
  let free = size;
  const waiting: Array<() => void> = [];
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (free > 0) free -= 1;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        // The slot passes straight to the next waiter, so that a newcomer cannot take it first.
        const next = waiting.shift();
        if (next) next();
        else free += 1;
      }
    },
  };
}
