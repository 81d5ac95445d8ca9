/** Services start and stop; doing either twice is harmless. */
export interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Wraps start/stop so that a second start or stop is a no-op and a stop during start waits for it.
 */
export function onceLifecycle(hooks: { start: () => Promise<void>; stop: () => Promise<void> }): Service {
  let state: 'stopped' | 'starting' | 'started' | 'stopping' = 'stopped';
  let pending: Promise<void> = Promise.resolve();
  return {
    async start() {
      await pending;
      if (state === 'started') return;
      state = 'starting';
      pending = hooks.start().then(
        () => { state = 'started'; },
        (error) => { state = 'stopped'; throw error; },
      );
      await pending;
    },
    async stop() {
      await pending.catch(() => undefined);
      if (state !== 'started') return;
      state = 'stopping';
      pending = hooks.stop().finally(() => { state = 'stopped'; });
      await pending;
    },
  };
}
