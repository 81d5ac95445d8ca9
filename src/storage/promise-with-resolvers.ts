/**
 * `Promise.withResolvers` for Node 20, which lacks it and libp2p 3 calls it. Imported first by
 * `ipfs-node.ts`, before libp2p is loaded, so no other module needs to know.
 */
type WithResolvers = <T>() => { promise: Promise<T>; resolve: (value: T | PromiseLike<T>) => void; reject: (reason?: unknown) => void };

const promise = Promise as unknown as { withResolvers?: WithResolvers };
promise.withResolvers ??= <T>() => {
  let resolve!: (value: T | PromiseLike<T>) => void;
  let reject!: (reason?: unknown) => void;
  const created = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise: created, resolve, reject };
};

export {};
