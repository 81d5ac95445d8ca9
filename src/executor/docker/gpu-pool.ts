/**
 * The GPUs a Docker executor hands out, so that two jobs running at once never get the same card: each run
 * takes the cards it needs from the free ones (waiting, in the order runs came, until enough are free) and
 * gives them back when it ends. Without a pool the engine is asked for a count of GPUs, and NVIDIA's
 * runtime gives every such container the first cards, the same ones.
 */
import { ExecutorError } from '../../lib/errors.js';

export interface GpuLease {
  /** Device ids (indexes or UUIDs, as `nvidia-smi` names them) for `HostConfig.DeviceRequests[].DeviceIDs`. */
  deviceIds: string[];
  release(): void;
}

export interface GpuPool {
  /** Takes `count` free cards for job `jobId`; waits while fewer are free; refuses a count the pool never has. */
  take(jobId: string, count: number, signal?: AbortSignal): Promise<GpuLease>;
}

export function createGpuPool(devices: readonly string[]): GpuPool {
  const free = [...devices];
  const waiting: Array<{ count: number; grant: () => void }> = [];

  // First come, first served: a run that needs many cards is not passed over by later small ones forever.
  function grantWaiting(): void {
    while (waiting.length > 0 && waiting[0]!.count <= free.length) waiting.shift()!.grant();
  }

  function lease(count: number): GpuLease {
    const deviceIds = free.splice(0, count);
    let released = false;
    return {
      deviceIds,
      release() {
        if (released) return;
        released = true;
        free.push(...deviceIds);
        free.sort((a, b) => devices.indexOf(a) - devices.indexOf(b));
        grantWaiting();
      },
    };
  }

  return {
    async take(jobId, count, signal) {
      if (count > devices.length) {
        throw new ExecutorError(`job ${jobId} asks for ${count} GPUs; this executor has ${devices.length}`, {
          code: 'gpus-unavailable',
          details: { jobId, count, gpus: devices.length },
        });
      }
      if (waiting.length === 0 && count <= free.length) return lease(count);
      return await new Promise<GpuLease>((resolve, reject) => {
        const onAbort = () => {
          const at = waiting.indexOf(entry);
          if (at >= 0) waiting.splice(at, 1);
          grantWaiting(); // those behind it may fit now
          reject(new ExecutorError(`job ${jobId} was aborted while it waited for a GPU`, { code: 'aborted', details: { jobId }, cause: signal?.reason }));
        };
        // The cards are taken as the grant is made, so that the next waiter sees them gone.
        const entry = {
          count,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve(lease(count));
          },
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.push(entry);
      });
    },
  };
}
