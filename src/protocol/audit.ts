/**
 * How often a job creator must audit (challenge) results so that cheating does not pay.
 *
 * A provider that skips the work saves its cost and is paid the price p when not audited; when audited
 * (with probability q) the mediator's re-run shows a different CID and the provider loses its collateral
 * k × p, and is not paid. Its expected gain from cheating is (1 − q)·p − q·k·p, which is negative
 * exactly when q > 1 / (k + 1): the equilibrium condition of Modicum (Eisele et al., DEBS 2020) for
 * perfectly reproducible jobs. We audit at that rate times a safety margin, so that a cheat loses at least
 * `margin − 1` of the price per job in expectation. The mediation fee does not change the condition (it
 * is paid out of the slashed collateral when the provider cheated, and by the job creator when it did
 * not), but it is the price of the guarantee: an honest network costs the job creator q × fee per job.
 *
 * Which jobs are audited must be unknowable to the provider until the result is in: the choice is a
 * keyed hash of the deal id under a secret that only the job creator holds (`shouldAudit`).
 */
import { createHmac } from 'node:crypto';

export interface AuditTerms {
  /** LP (wei) per job. */
  price: bigint;
  /** Collateral = price × collateralMultiple. */
  collateralMultiple: bigint;
  /** LP (wei) the mediator is paid per challenge. */
  mediationFee: bigint;
}

export interface AuditPolicy {
  /** The share of jobs to audit, 0..1. */
  rate: number;
  /** The least share at which cheating stops paying, 1 / (k + 1). */
  breakEvenRate: number;
  /** A cheat's expected gain per job, as a fraction of the price (negative: cheating loses). */
  cheaterExpectedGain: number;
  /** The expected cost of auditing an honest provider, per job, in LP (wei). */
  expectedFeePerJob: bigint;
}

export const DEFAULT_AUDIT_MARGIN = 1.25;

export function auditPolicy(terms: AuditTerms, margin = DEFAULT_AUDIT_MARGIN): AuditPolicy {
  const k = Number(terms.collateralMultiple);
  const breakEvenRate = 1 / (k + 1);
  const rate = Math.min(1, breakEvenRate * margin);
  const cheaterExpectedGain = 1 - rate * (k + 1);
  const expectedFeePerJob = (terms.mediationFee * BigInt(Math.round(rate * 1_000_000))) / 1_000_000n;
  return { rate, breakEvenRate, cheaterExpectedGain, expectedFeePerJob };
}

/**
 * Whether to audit this deal: HMAC-SHA256(secret, dealId) read as a number in [0, 1) below the rate.
 * The provider knows the deal id but not the secret, so it cannot tell which results will be checked.
 */
export function shouldAudit(secret: Uint8Array | string, dealId: string, rate: number): boolean {
  const digest = createHmac('sha256', secret).update(dealId.toLowerCase()).digest();
  const draw = digest.readUIntBE(0, 6) / 2 ** 48;
  return draw < rate;
}
