/**
 * The bridge for the on-chain job creator (contracts/LilypadOnChainJobCreator.sol): it watches the
 * contract's JobAdded events, runs each job through the network as the contract (the bridge's key signs
 * offers and acceptances for it, ERC-1271), and delivers the result CID, which calls the client
 * contract's `receiveJobResults`. A result its audit contradicts is challenged through the contract, and
 * the job follows the ruling: delivered if the mediator accepts it, refunded to the client at once if not.
 * Each job offer is bound to its job on chain before it is posted (`bindJobOffer`), so the contract knows
 * every job's deal. On start it also takes up jobs asked for while it was down, following the deal of a job
 * whose offer was agreed instead of running it again.
 */
import { zeroHash, type Address, type Hex } from 'viem';
import {
  bindJobOffer,
  challengeJobResults,
  deliverJobResults,
  lilypadOnChainJobCreatorAbi,
  refundJob,
  timeoutSubmitResults,
} from '../chain/index.js';
import { onceLifecycle, type Service } from '../lib/lifecycle.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { sleep } from '../lib/sleep.js';
import { runCheckedJob } from '../job-creator/audit.js';
import { followChallenge } from '../job-creator/follow-challenge.js';
import type { JobCreatorComponents } from '../job-creator/run-job.js';
import { parseInputs } from '../protocol/inputs.js';

export interface BridgeConfig {
  /** The LilypadOnChainJobCreator contract. */
  contract: Address;
  mediators: Address[];
  /** The most LP (wei) one job may cost. */
  maxPrice: bigint;
  resultsDir: string;
  /**
   * Audit a share of jobs at the computed rate (default true): re-run them here and challenge a result that
   * differs (or one that cannot be re-run here) through the contract's `challengeResults`, with the fee
   * from the contract's escrow. The result is delivered only if the mediator accepts it; if it rejects it,
   * the client is refunded at once from the slashed collateral that lands in the contract's escrow.
   */
  audit?: boolean;
  /** Re-run every job here and challenge a differing result, as `lilypad run --verify` does (default false). */
  verify?: boolean;
}

export interface BridgeComponents extends JobCreatorComponents {
  logger?: Logger;
}

export interface Bridge extends Service {
  /** Resolves when every job taken so far has been delivered or has failed. */
  idle(): Promise<void>;
}

/** Inputs as the contract holds them: entries of "KEY=VALUE" lines, read by the CLI's rules (`protocol/inputs.ts`). */
export function parseContractInputs(entries: readonly string[]): Record<string, string> {
  return parseInputs(entries.flatMap((entry) => entry.split('\n')).filter((line) => line !== ''));
}

const JOB_REQUESTED = 1;

export function createBridge(config: BridgeConfig, components: BridgeComponents): Bridge {
  const logger = components.logger ?? silentLogger;
  const { publicClient } = components.chain;
  const taken = new Map<bigint, Promise<void>>();
  let unwatch: (() => void) | undefined;
  // Ends the waits of deals being followed; a fresh one each start.
  let stopping = new AbortController();

  /**
   * A job whose offer was agreed before this bridge (re)started: it follows that deal instead of running the
   * job again, delivering results that stand, refunding once the deal ends without results, and sending
   * the deal's timeouts when they are due.
   */
  async function followDeal(jobId: bigint, dealId: Hex, log: Logger): Promise<void> {
    log.info({ dealId }, 'job has an agreed deal; following it');
    const { signal } = stopping;
    while (!signal.aborted) {
      const deal = await components.readDeal(dealId);
      if (deal.state === 'results-submitted' || deal.state === 'results-accepted' || deal.state === 'mediation-accepted') {
        const delivery = await deliverJobResults(components.chain, { jobCreator: config.contract, jobId, dealId, cid: deal.resultCid });
        log.info({ dealId, cid: deal.resultCid, delivered: delivery.delivered }, 'job delivered');
        return;
      }
      if (deal.state === 'mediation-rejected' || deal.state === 'mediation-timed-out' || deal.state === 'submit-timed-out') {
        await refundJob(components.chain, { jobCreator: config.contract, jobId });
        log.warn({ dealId, state: deal.state }, 'deal ended without results; job refunded');
        return;
      }
      if (deal.state === 'results-checked') {
        // The ruling (or the mediation timeout) decides; the next look delivers or refunds by it. Stopping
        // the bridge leaves the deal as it is, to be taken up on the next start.
        await followChallenge(components, dealId, {
          signal,
          onProgress: (event) => {
            if (event.type === 'mediation:ruled') log.info({ dealId, state: event.state }, 'mediator ruled');
          },
        }).catch((error) => {
          if (!signal.aborted) throw error;
        });
        continue;
      }
      if (deal.state === 'agreed' && (await publicClient.getBlock()).timestamp > deal.deadline) {
        await timeoutSubmitResults(components.chain, { deals: components.domain.dealsAddress, dealId }).catch(() => undefined);
        continue;
      }
      await sleep(1000, signal).catch(() => undefined);
    }
  }

  async function handle(jobId: bigint, module: string, inputEntries: readonly string[]): Promise<void> {
    const log = logger.child({ jobId: jobId.toString() });
    const job = await publicClient.readContract({ address: config.contract, abi: lilypadOnChainJobCreatorAbi, functionName: 'getJob', args: [jobId] });
    if (job.state !== JOB_REQUESTED) return;
    // A bound offer that was never agreed is simply replaced: binding the next one voids it.
    if (job.dealId !== zeroHash && (await components.readDeal(job.dealId)).state !== 'none') return await followDeal(jobId, job.dealId, log);
    const result = await runCheckedJob(
      {
        audit: config.audit ?? true,
        verify: config.verify,
        onCheck: (event) => {
          if (event.type === 'audit:decided') log.info({ dealId: event.dealId, audited: event.audited, rate: event.rate }, 'audit decided');
          if (event.type === 'verify:rerun' && !event.matches) log.warn({ dealId: event.dealId, submitted: event.submittedCid, rerun: event.rerunCid }, 're-run differs; challenging');
        },
      },
      {
        module,
        inputs: parseContractInputs(inputEntries),
        maxPrice: config.maxPrice,
        mediators: config.mediators,
        resultsDir: config.resultsDir,
        jobCreator: config.contract,
        // Bound before it is posted: the contract's signature is valid only for its job's current offer.
        onOffer: async (_offer, jobOfferId) => {
          await bindJobOffer(components.chain, { jobCreator: config.contract, jobId, dealId: jobOfferId });
        },
        onProgress: (event) => {
          if (event.type === 'results:challenged') log.info({ dealId: event.dealId, mediator: event.mediator }, 'results challenged');
          if (event.type === 'mediation:ruled') log.info({ dealId: event.dealId, state: event.state }, 'mediator ruled');
        },
      },
      // Only the deal's job creator may challenge, and that is the contract: the challenge goes through it.
      { ...components, challenge: (args) => challengeJobResults(components.chain, { jobCreator: config.contract, jobId, ...args }) },
    );
    if (result.state === 'mediation-rejected' || result.state === 'mediation-timed-out') {
      // No result to deliver: the client has its payment back now, not after the job timeout.
      await refundJob(components.chain, { jobCreator: config.contract, jobId });
      log.warn({ dealId: result.dealId, state: result.state }, 'results not upheld; job refunded');
      return;
    }
    const delivery = await deliverJobResults(components.chain, { jobCreator: config.contract, jobId, dealId: result.dealId as Hex, cid: result.cid });
    log.info({ dealId: result.dealId, cid: result.cid, delivered: delivery.delivered }, 'job delivered');
  }

  function take(jobId: bigint | undefined, module: string | undefined, inputs: readonly string[] | undefined): void {
    if (jobId === undefined || module === undefined || taken.has(jobId)) return;
    taken.set(
      jobId,
      handle(jobId, module, inputs ?? []).catch((error) => {
        // The client can take its payment back once the job times out (refund), so nothing is stuck.
        logger.error({ jobId: jobId.toString(), err: error }, 'job failed');
      }),
    );
  }

  const lifecycle = onceLifecycle({
    async start() {
      stopping = new AbortController();
      // Block ranges read one after the other, from the first block on: no job is missed, not even one
      // asked for while an event filter would still be being installed (a filter of viem's watcher is
      // installed by its first poll, which can land after a catch-up read and after the next job).
      let nextBlock = 0n;
      const scan = async () => {
        const head = await publicClient.getBlockNumber({ cacheTime: 0 });
        if (head < nextBlock) return;
        const events = await publicClient.getContractEvents({ address: config.contract, abi: lilypadOnChainJobCreatorAbi, eventName: 'JobAdded', fromBlock: nextBlock, toBlock: head });
        nextBlock = head + 1n;
        for (const event of events) take(event.args.jobId, event.args.module, event.args.inputs);
      };
      await scan();
      let scanning = false;
      const timer = setInterval(() => {
        if (scanning) return;
        scanning = true;
        scan()
          .catch((error) => logger.warn({ err: error }, 'reading JobAdded failed; retrying'))
          .finally(() => (scanning = false));
      }, publicClient.pollingInterval);
      unwatch = () => clearInterval(timer);
    },
    async stop() {
      stopping.abort();
      unwatch?.();
      unwatch = undefined;
      await Promise.allSettled(taken.values());
    },
  });

  return {
    ...lifecycle,
    async idle() {
      await Promise.allSettled(taken.values());
    },
  };
}
