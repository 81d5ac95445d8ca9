import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditPolicy, shouldAudit } from './audit.js';

const lp = 10n ** 18n;

describe('auditPolicy', () => {
  it('audits above 1/(k+1), so that a cheat loses money in expectation', () => {
    for (const k of [1n, 2n, 3n, 5n, 10n]) {
      const policy = auditPolicy({ price: lp, collateralMultiple: k, mediationFee: lp / 10n });
      expect(policy.breakEvenRate).toBeCloseTo(1 / (Number(k) + 1));
      expect(policy.rate).toBeGreaterThan(policy.breakEvenRate);
      expect(policy.cheaterExpectedGain).toBeLessThan(0);
    }
  });

  it('audits every job when collateral is zero, and prices the guarantee in fees', () => {
    const policy = auditPolicy({ price: lp, collateralMultiple: 0n, mediationFee: lp / 10n });
    expect(policy.rate).toBe(1);
    expect(policy.expectedFeePerJob).toBe(lp / 10n);
    expect(auditPolicy({ price: lp, collateralMultiple: 3n, mediationFee: lp }).expectedFeePerJob).toBe((lp * 3125n) / 10000n);
  });
});

describe('shouldAudit', () => {
  it('chooses the given share of deals, the same way every time for one secret and deal', () => {
    const secret = randomBytes(32);
    let audited = 0;
    for (let i = 0; i < 20_000; i++) {
      const dealId = `0x${i.toString(16).padStart(64, '0')}`;
      const choice = shouldAudit(secret, dealId, 0.25);
      expect(shouldAudit(secret, dealId, 0.25)).toBe(choice);
      if (choice) audited++;
    }
    expect(audited / 20_000).toBeGreaterThan(0.23);
    expect(audited / 20_000).toBeLessThan(0.27);
  });

  it('depends on the secret, so a provider cannot predict it from the deal id', () => {
    const dealIds = Array.from({ length: 200 }, (_, i) => `0x${(i + 1).toString(16).padStart(64, '0')}`);
    const a = dealIds.map((id) => shouldAudit('secret-a', id, 0.5));
    const b = dealIds.map((id) => shouldAudit('secret-b', id, 0.5));
    expect(a).not.toEqual(b);
  });
});
