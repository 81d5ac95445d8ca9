/**
 * The EIP-712 types that both parties sign and the deal contract checks. The Solidity structs in
 * contracts/LilypadDeals.sol must list the same fields in the same order.
 */
import type { Address, Hex } from 'viem';

export const EIP712_DOMAIN_NAME = 'Lilypad';
export const EIP712_DOMAIN_VERSION = '1';

export const offerTypes = {
  JobOffer: [
    { name: 'jobCreator', type: 'address' },
    { name: 'moduleId', type: 'bytes32' },
    { name: 'inputsHash', type: 'bytes32' },
    { name: 'detailsHash', type: 'bytes32' },
    { name: 'maxPrice', type: 'uint256' },
    { name: 'minCollateral', type: 'uint256' },
    { name: 'mediators', type: 'address[]' },
    { name: 'mediatorSeedHash', type: 'bytes32' },
    { name: 'mediationFee', type: 'uint256' },
    { name: 'submitTimeout', type: 'uint256' },
    { name: 'judgeWindow', type: 'uint256' },
    { name: 'mediationTimeout', type: 'uint256' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint256' },
  ],
  ResourceOffer: [
    { name: 'resourceProvider', type: 'address' },
    { name: 'price', type: 'uint256' },
    { name: 'collateralMultiple', type: 'uint256' },
    { name: 'capacity', type: 'uint256' },
    { name: 'mediators', type: 'address[]' },
    { name: 'minSubmitTimeout', type: 'uint256' },
    { name: 'maxJudgeWindow', type: 'uint256' },
    { name: 'maxMediationTimeout', type: 'uint256' },
    { name: 'detailsHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint256' },
  ],
} as const;

/**
 * What a job creator signs to accept the solver's match: this resource offer (its EIP-712 digest) for this job
 * offer (the deal id). The provider sends it with the agreement, so nobody can agree the job offer on other terms.
 */
export const matchAcceptanceTypes = {
  MatchAcceptance: [
    { name: 'dealId', type: 'bytes32' },
    { name: 'resourceOfferId', type: 'bytes32' },
  ],
} as const;

/** What a job creator signs to accept a deal's results without sending a transaction itself. */
export const acceptanceTypes = {
  ResultsAcceptance: [{ name: 'dealId', type: 'bytes32' }],
} as const;

/** The signed, on-chain part of a job offer. `moduleId` and `inputsHash` bind the off-chain details. */
export interface SignedJobOfferTerms {
  jobCreator: Address;
  moduleId: Hex;
  inputsHash: Hex;
  /** Binds the offer's other details (module name, machine, engine): see `jobOfferDetailsOf`. */
  detailsHash: Hex;
  maxPrice: bigint;
  /** The least collateral (LP wei) the job creator accepts from a provider. */
  minCollateral: bigint;
  /** Mediators the job creator trusts; the deal's mediator is drawn from those the provider also lists. */
  mediators: Address[];
  /** keccak256(abi.encode(seed)) of the job creator's secret half of the mediator draw. */
  mediatorSeedHash: Hex;
  /** LP (wei) the job creator pays the mediator if it challenges. */
  mediationFee: bigint;
  /** Seconds from agreement within which the provider must submit results. */
  submitTimeout: bigint;
  /** Seconds from submission within which the job creator may challenge; then anyone may accept. */
  judgeWindow: bigint;
  /** Seconds from a challenge within which the mediator must rule. */
  mediationTimeout: bigint;
  nonce: bigint;
  /** Unix seconds; the offer cannot be agreed after it. */
  expiry: bigint;
}

/** The signed, on-chain part of a resource offer. `detailsHash` binds machine, modules and endpoint. */
export interface SignedResourceOfferTerms {
  resourceProvider: Address;
  /** LP (wei) per job. */
  price: bigint;
  /** Collateral locked per deal = price × collateralMultiple. */
  collateralMultiple: bigint;
  /** How many deals this one offer may be agreed into. */
  capacity: bigint;
  mediators: Address[];
  /** The shortest submit timeout the provider agrees to. */
  minSubmitTimeout: bigint;
  /** The longest judge window (collateral held after submission) the provider agrees to. */
  maxJudgeWindow: bigint;
  /** The longest mediation (collateral frozen after a challenge) the provider agrees to. */
  maxMediationTimeout: bigint;
  detailsHash: Hex;
  nonce: bigint;
  expiry: bigint;
}

export function offerDomain(chainId: number, verifyingContract: Address) {
  return { name: EIP712_DOMAIN_NAME, version: EIP712_DOMAIN_VERSION, chainId, verifyingContract } as const;
}
