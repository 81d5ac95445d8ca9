/**
 * The mediator draw, as contracts/LilypadDeals.sol computes it (see `challengeResults` there): the job
 * creator commits to a secret seed in its offer, the resource provider adds a fresh seed when it submits
 * results, and the mediator is picked from the mediators both offers list by the hash of the two seeds.
 */
import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem';

/** What the job offer carries: keccak256(abi.encode(seed)). */
export function mediatorSeedHashOf(seed: Hex): Hex {
  return keccak256(encodeAbiParameters([{ type: 'bytes32' }], [seed]));
}

/**
 * The job offer's mediators that the resource offer also lists, each once at its first place, in the job
 * offer's order: exactly the candidates the contract's `_sharedMediators` emits (a duplicate cannot weight the draw).
 */
export function sharedMediatorsOf(jobMediators: readonly Address[], resourceMediators: readonly Address[]): Address[] {
  const offered = new Set(resourceMediators.map((m) => m.toLowerCase()));
  const seen = new Set<string>();
  return jobMediators.filter((m) => {
    const key = m.toLowerCase();
    if (!offered.has(key) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function drawMediator(jobCreatorSeed: Hex, providerSeed: Hex, candidates: readonly Address[]): Address {
  if (candidates.length === 0) throw new Error('no mediator candidates');
  const draw = BigInt(keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }], [jobCreatorSeed, providerSeed])));
  return candidates[Number(draw % BigInt(candidates.length))]!;
}

/** 32 fresh random bytes, for a resource provider's seed. */
export function randomSeed(): Hex {
  return `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}`;
}

/** Default deal timeouts (seconds) that the SDK and the provider use unless told otherwise. */
export const defaultDealTimeouts = {
  submitTimeout: 600n,
  judgeWindow: 60n,
  mediationTimeout: 600n,
  minSubmitTimeout: 60n,
  maxJudgeWindow: 3600n,
  maxMediationTimeout: 3600n,
} as const;
