import { describe, expect, it } from 'vitest';
import { parseEther, type Hex } from 'viem';
import { majorityCid } from '../mediator/mediator.js';
import type { OnChainDealView } from '../protocol/deals.js';
import { auditingJudge, cheaterExpectedLoss } from './audit.js';
import type { CheckProgressEvent, Verifier } from './verify.js';

const price = parseEther('1');
const deal = { price, collateral: 2n * price, mediationFee: parseEther('0.1') } as OnChainDealView;
const dealIds = Array.from({ length: 2000 }, (_, i) => `0x${i.toString(16).padStart(64, '0')}` as Hex);

function verifierAnswering(answer: boolean | undefined): Verifier & { checked: number } {
  const verifier = {
    checked: 0,
    rerun: async () => ({ rerun: false as const, reason: 'unused' }),
    check: async () => {
      verifier.checked++;
      return answer;
    },
  };
  return verifier;
}

describe('auditingJudge', () => {
  it('audits about the computed share (1.25 / (k + 1)), and a cheat loses 0.25 LP per 1 LP job at k = 2', async () => {
    const events: CheckProgressEvent[] = [];
    const verifier = verifierAnswering(false);
    const judge = auditingJudge({ secret: '0x' + '11'.repeat(32) as Hex, verifier, readDeal: async () => deal, onProgress: (e) => events.push(e) });
    let challenged = 0;
    for (const dealId of dealIds) if (!(await judge({ dealId, cid: 'bafy', dir: '/nowhere' }))) challenged++;
    expect(challenged).toBe(verifier.checked);
    expect(challenged / dealIds.length).toBeCloseTo(1.25 / 3, 1);
    const decided = events.find((e) => e.type === 'audit:decided');
    expect(decided).toMatchObject({ cheaterExpectedLoss: parseEther('0.25') });
    expect(decided?.type === 'audit:decided' && decided.rate).toBeCloseTo(1.25 / 3, 12);
  });

  it('is a keyed choice: another secret audits other deals', async () => {
    const chosen = async (secret: Hex) => {
      const verifier = verifierAnswering(false);
      const judge = auditingJudge({ secret, verifier, readDeal: async () => deal });
      const audited: boolean[] = [];
      for (const dealId of dealIds.slice(0, 200)) audited.push(!(await judge({ dealId, cid: 'bafy', dir: '/nowhere' })));
      return audited;
    };
    expect(await chosen(('0x' + '11'.repeat(32)) as Hex)).not.toEqual(await chosen(('0x' + '22'.repeat(32)) as Hex));
  });

  it('accepts an audited result its re-run confirms; challenges what it cannot re-run, unless it cannot challenge', async () => {
    const always = { secret: ('0x' + '11'.repeat(32)) as Hex, readDeal: async () => deal, rate: 1 };
    expect(await auditingJudge({ ...always, verifier: verifierAnswering(true) })({ dealId: dealIds[0]!, cid: 'bafy', dir: '' })).toBe(true);
    expect(await auditingJudge({ ...always, verifier: verifierAnswering(undefined) })({ dealId: dealIds[0]!, cid: 'bafy', dir: '' })).toBe(false);
    expect(await auditingJudge({ ...always, verifier: verifierAnswering(undefined), canChallenge: false })({ dealId: dealIds[0]!, cid: 'bafy', dir: '' })).toBe(true);
  });

  it('expected loss matches the Modicum condition: zero at the break-even rate 1 / (k + 1)', () => {
    expect(cheaterExpectedLoss(price, 2n * price, 1 / 3)).toBe(0n);
    expect(cheaterExpectedLoss(price, 9n * price, 0.125)).toBe(parseEther('0.25'));
  });
});

describe('a mediator panel', () => {
  it('rules only with a strict majority on one CID', () => {
    expect(majorityCid([{ member: 'self', cid: 'a' }, { member: 'b', cid: 'a' }, { member: 'c', cid: 'x' }])).toBe('a');
    expect(majorityCid([{ member: 'self', cid: 'a' }, { member: 'b', cid: 'x' }, { member: 'c', error: 'down' }])).toBeUndefined();
    expect(majorityCid([{ member: 'self', cid: 'a' }, { member: 'b', cid: 'a' }])).toBe('a');
    expect(majorityCid([{ member: 'self', cid: 'a' }, { member: 'b', error: 'down' }])).toBeUndefined();
  });
});
