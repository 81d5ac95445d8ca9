/**
 * What a stopping process still waits on, by name. A stop that runs past its grace (src/cli/signals.ts)
 * says which steps had not finished, so that a slow or stuck one can be found from one line of stderr.
 */
const pending = new Map<number, string>();
let nextId = 0;

/** Runs one step of a stop, named while it runs. */
export async function stopStep<T>(name: string, stop: () => Promise<T>): Promise<T> {
  const id = ++nextId;
  pending.set(id, name);
  try {
    return await stop();
  } finally {
    pending.delete(id);
  }
}

/** Work that must end when `signal` is aborted: named as a stop step from the abort until it settles. */
export async function endsOnStop<T>(name: string, signal: AbortSignal, work: Promise<T>): Promise<T> {
  const id = ++nextId;
  const onAbort = () => pending.set(id, name);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await work;
  } finally {
    signal.removeEventListener('abort', onAbort);
    pending.delete(id);
  }
}

/** The steps still running, oldest first. */
export function stepsStillStopping(): string[] {
  return [...new Set(pending.values())];
}
