/**
 * Keeping results for the stated time and no longer: the rule of what the provider's blockstore keeps, and
 * the sweep that removes the rest, at start and then every `sweepIntervalMs`. Kept: the result and the
 * inputs of every deal that has not ended (a mediator may still re-run it), and the result of every deal
 * that ended less than `resultsKeptFor` ago. Every other block goes, unless a kept DAG shares it.
 */
import { CID } from 'multiformats/cid';
import type { Logger } from '../lib/logger.js';
import type { SweepableBlockstore, SweepResult } from '../storage/index.js';
import { DEFAULT_RESULTS_KEPT_FOR, type ResourceProviderConfig } from './config.js';
import type { DealStore } from './deal-store.js';

export type ResultRetentionConfig = Pick<ResourceProviderConfig, 'resultsKeptFor' | 'sweepIntervalMs'>;

export interface ResultRetentionComponents {
  blockstore: SweepableBlockstore;
  store: () => Pick<DealStore, 'liveRoots'>;
  logger: Logger;
  /** The clock (ms) that says which deals ended too long ago; tests move it. */
  now: () => number;
}

export interface ResultRetention {
  /** Sweeps now and then every `sweepIntervalMs`. */
  start(): void;
  /** Sweeps now (after the sweep running, if one is). */
  sweep(): Promise<SweepResult>;
  /** Stops the timer and the sweep running; resolves once it has. */
  stop(): Promise<void>;
}

const HOUR_MS = 3_600_000;

/** Until when (ms) a deal that ended at `endedAt` (ms) keeps its result. */
export function resultKeptUntil(config: ResultRetentionConfig, endedAt: number): number {
  return endedAt + (config.resultsKeptFor ?? DEFAULT_RESULTS_KEPT_FOR) * 1000;
}

export function createResultRetention(config: ResultRetentionConfig, components: ResultRetentionComponents): ResultRetention {
  const { blockstore, store, logger } = components;
  const keptForMs = (config.resultsKeptFor ?? DEFAULT_RESULTS_KEPT_FOR) * 1000;
  let timer: NodeJS.Timeout | undefined;
  let abort = new AbortController();
  /** The last sweep asked for; sweeps run one after another, so it settles last. */
  let latest: Promise<unknown> = Promise.resolve();

  function sweep(): Promise<SweepResult> {
    const run = blockstore.sweep(() => store().liveRoots(components.now() - keptForMs).map((cid) => CID.parse(cid)), { signal: abort.signal }).then((result) => {
      if (result.removed > 0) logger.info({ removedBlocks: result.removed, removedBytes: result.removedBytes, blocks: result.blocks }, 'blocks no deal keeps any more removed');
      return result;
    });
    latest = run;
    return run;
  }

  function sweepInBackground(): void {
    sweep().catch((error) => {
      if (!abort.signal.aborted) logger.warn({ err: error }, 'sweep of kept results failed; the next one tries again');
    });
  }

  return {
    start() {
      abort = new AbortController();
      sweepInBackground();
      timer = setInterval(sweepInBackground, config.sweepIntervalMs ?? HOUR_MS);
      timer.unref();
    },
    sweep,
    async stop() {
      clearInterval(timer);
      timer = undefined;
      abort.abort();
      // The sweep running reads the deal store, which closes after this.
      await latest.catch(() => undefined);
    },
  };
}
