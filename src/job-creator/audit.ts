/**
 * Random audits by the job creator: a judge for `runJob` that checks a share of jobs, at the rate that
 * makes cheating lose money (`auditPolicy` in src/protocol/audit.ts, from the deal's price, collateral
 * and mediation fee), chosen by a keyed hash of the deal id (`shouldAudit`) under a secret only the job
 * creator holds, so no provider can tell in advance which of its results will be checked. An audited job
 * is re-run here and challenged when the CIDs differ; one that cannot be re-run here is challenged
 * outright, and the mediator re-runs it.
 */
import path from 'node:path';
import { keccak256, type Hex } from 'viem';
import type { ChainClients } from '../chain/index.js';
import { closeExecutors, localExecutorsOnDemand } from '../executor/local.js';
import { auditPolicy, shouldAudit, DEFAULT_AUDIT_MARGIN } from '../protocol/audit.js';
import type { ReadDeal } from '../protocol/deals.js';
import { runJob, type JobCreatorComponents, type JobResult, type RunJobOptions } from './run-job.js';
import { createVerifier, verifyingJudge, withDealJudge, type CheckProgressEvent, type DealJudge, type Verifier } from './verify.js';

/**
 * The audit secret: a hash of the job creator's signature over a fixed message. Signatures are
 * deterministic (RFC 6979), so it is the same on every run and machine, never leaves the job creator,
 * and cannot be derived by anyone without its key.
 */
export async function auditSecretOf(chain: ChainClients): Promise<Hex> {
  return keccak256(await chain.walletClient.signMessage({ message: 'lilypad audit secret v1: never share this signature' }));
}

export interface AuditJudgeOptions {
  secret: Hex | Uint8Array;
  /** Re-runs jobs here; without one (or when it cannot run a job) an audited job is challenged outright. */
  verifier?: Verifier;
  readDeal: ReadDeal;
  /** Audit rate over the break-even rate (default 1.25). */
  margin?: number;
  /** Audit every job (rate 1), as `--verify` does; default: the computed rate. */
  rate?: number;
  /**
   * Whether this job creator can challenge (default true). One that cannot (a contract without a challenge
   * function) accepts what it cannot re-run, since a challenge it cannot send checks nothing.
   */
  canChallenge?: boolean;
  onProgress?: (event: CheckProgressEvent) => void;
}

/** What a cheating provider loses per job in expectation at `rate`, in LP (wei), for a deal's terms. */
export function cheaterExpectedLoss(price: bigint, collateral: bigint, rate: number): bigint {
  // Cheating pays p when not audited and costs the collateral (and the price) when audited: the loss is
  // (q·(k + 1) − 1)·p, rounded to a millionth of the price.
  if (price === 0n) return 0n;
  const k = Number(collateral) / Number(price);
  return (price * BigInt(Math.round((rate * (k + 1) - 1) * 1_000_000))) / 1_000_000n;
}

export function auditingJudge(options: AuditJudgeOptions): DealJudge {
  return async ({ dealId, cid }) => {
    const deal = await options.readDeal(dealId);
    const collateralMultiple = deal.price > 0n ? deal.collateral / deal.price : 0n;
    const rate = options.rate ?? auditPolicy({ price: deal.price, collateralMultiple, mediationFee: deal.mediationFee }, options.margin ?? DEFAULT_AUDIT_MARGIN).rate;
    const audited = shouldAudit(typeof options.secret === 'string' ? Buffer.from(options.secret.slice(2), 'hex') : options.secret, dealId, rate);
    options.onProgress?.({ type: 'audit:decided', dealId, audited, rate, cheaterExpectedLoss: cheaterExpectedLoss(deal.price, deal.collateral, rate) });
    if (!audited) return true;
    const matches = options.verifier ? await options.verifier.check(dealId, cid, options.onProgress) : undefined;
    return matches ?? options.canChallenge === false;
  };
}

export interface JobChecks {
  /** Re-run every job here and challenge a differing result (`lilypad run --verify`). */
  verify?: boolean;
  /** Audit a share of jobs at the computed rate (`lilypad run --audit`). */
  audit?: boolean;
  onCheck?: (event: CheckProgressEvent) => void;
  /** See `AuditJudgeOptions.canChallenge`. */
  canChallenge?: boolean;
}

/**
 * `runJob` with the checks asked for: this machine's executors for the re-runs (Docker dialled only for
 * a Docker job; closed at the end), re-runs under `<resultsDir>/../reruns`, and the audit secret from the
 * job creator's key. Without checks it is `runJob`.
 */
export async function runCheckedJob(checks: JobChecks, options: RunJobOptions, components: JobCreatorComponents): Promise<JobResult> {
  if (!checks.verify && !checks.audit) return await runJob(options, components);
  const executors = localExecutorsOnDemand({ owner: `lilypad-job-creator-${process.pid}`, spareWorker: false });
  try {
    const verifier = createVerifier({ workDir: path.join(path.dirname(options.resultsDir), 'reruns') }, { ...components, executors });
    const judge = checks.verify
      ? verifyingJudge(verifier, checks.onCheck)
      : auditingJudge({
          secret: await auditSecretOf(components.chain),
          verifier,
          readDeal: components.readDeal,
          canChallenge: checks.canChallenge,
          onProgress: checks.onCheck,
        });
    return await runJob(withDealJudge(options, judge), components);
  } finally {
    await closeExecutors(executors);
  }
}
