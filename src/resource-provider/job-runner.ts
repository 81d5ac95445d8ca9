/**
 * Running a deal's job: into `dataDir/jobs/<dealId>`, stopped in time to submit before the deal's deadline,
 * the result folder then added to the blockstore as a UnixFS DAG. It owns the jobs running now, so that a
 * stopping provider can stop them.
 */
import path from 'node:path';
import type { Logger } from '../lib/logger.js';
import { runPreparedJob } from '../module/prepare-job.js';
import type { Deal } from '../protocol/deals.js';
import { addDirectory, type SweepableBlockstore } from '../storage/index.js';
import type { ResourceProviderComponents, ResourceProviderConfig } from './config.js';
import type { DealChecks } from './deal-checks.js';
import type { DealStore } from './deal-store.js';
import { startLiveOutput } from './live-output.js';

/** Seconds kept free before a submit deadline, for the result to be added and the transaction to land. */
const SUBMIT_MARGIN_SECONDS = 10n;

export type JobRunnerConfig = Pick<ResourceProviderConfig, 'dataDir'>;

export interface JobRunnerComponents extends Pick<ResourceProviderComponents, 'ipfs'> {
  blockstore: SweepableBlockstore;
  logger: Logger;
  checks: Pick<DealChecks, 'prepare'>;
  store: () => Pick<DealStore, 'setInputs' | 'setStage'>;
}

export interface JobRunner {
  /**
   * Runs the deal's job, adds the result folder to the blockstore, records it (stage `ran`) and returns its
   * CID. A job that fails after agreement (the executor gives up on it) still gets a result folder that says
   * why (`exitCode` 1 and `error`), which is submitted like any other: the deal ends at once, the provider is
   * paid for its work, and the mediator's re-run can check it.
   */
  run(deal: Deal, deadline: bigint): Promise<string>;
  /** Takes jobs again after a stop. */
  start(): void;
  /** Stops every job running now, and every job still being prepared before it starts. */
  stop(): void;
}

export function createJobRunner(config: JobRunnerConfig, components: JobRunnerComponents): JobRunner {
  const { logger } = components;
  const running = new Set<AbortController>();
  let stopped = false;
  return {
    async run(deal, deadline) {
      const resultDir = path.join(config.dataDir, 'jobs', deal.dealId);
      // Stoppable from the start: a stop that comes while the job is being prepared must not wait for the run.
      const abort = new AbortController();
      if (stopped) abort.abort();
      running.add(abort);
      try {
        const prepared = await components.checks.prepare(deal);
        // Recorded before they are fetched, so that a sweep keeps their blocks while the deal is open.
        if (prepared.inputs.length > 0) components.store().setInputs(deal.dealId, prepared.inputs.map((input) => input.cid.toV1().toString()));
        // The job creator watches stdout as it comes (a preview; the result is what counts), opened while the inputs are fetched.
        const live = components.ipfs ? startLiveOutput(components.ipfs, deal.dealId, deal.jobOffer.ipfsPeers ?? [], logger) : undefined;
        try {
          const result = await runPreparedJob(prepared, {
            jobId: deal.dealId,
            resultDir,
            signal: abort.signal,
            deadlineMs: Number(deadline - SUBMIT_MARGIN_SECONDS) * 1000,
            onOutput: live?.write,
          });
          logger.info({ dealId: deal.dealId, exitCode: result.exitCode, failure: result.failure?.message }, 'job ran');
        } finally {
          live?.end();
        }
      } finally {
        running.delete(abort);
      }
      const cid = await components.blockstore.holding(async (blocks) => {
        const root = (await addDirectory(resultDir, blocks)).toString();
        // Recorded while its blocks are held: no sweep ever sees them without a recorded root.
        components.store().setStage(deal.dealId, 'ran', { resultCid: root });
        return root;
      });
      logger.info({ dealId: deal.dealId, cid }, 'result added');
      // Dialling out to the job creator's node lets it fetch the result over this connection even when this
      // provider cannot be dialled from outside (behind NAT). Not awaited: the submission must not wait on it.
      const jobCreatorPeers = deal.jobOffer.ipfsPeers ?? [];
      if (components.ipfs && jobCreatorPeers.length > 0) void components.ipfs.connect(jobCreatorPeers).catch(() => undefined);
      return cid;
    },
    start() {
      stopped = false;
    },
    stop() {
      stopped = true;
      for (const job of running) job.abort();
    },
  };
}
