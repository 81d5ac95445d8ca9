/**
 * Signed requests to the solver other than offers: subscribing to a party's events, withdrawing a
 * resource offer. Each is EIP-712 typed data in the offers' domain, signed by the party it speaks for,
 * for one action on one target, with a nonce the solver accepts once and an expiry at most
 * `MAX_REQUEST_TTL_SECONDS` ahead (so the solver need remember a nonce only that long).
 */
import { getAddress, hashTypedData, isAddress, verifyHash, zeroHash, type Address, type Hex } from 'viem';
import { z } from 'zod';
import { secondsFromNow } from '../lib/clock.js';
import { offerDomain } from '../protocol/eip712.js';
import { randomNonce, type OfferDomain, type SignatureVerifier } from '../protocol/offers.js';

export const solverRequestTypes = {
  SolverRequest: [
    { name: 'party', type: 'address' },
    { name: 'action', type: 'string' },
    { name: 'target', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint256' },
  ],
} as const;

export const solverActions = ['subscribe-job-offer', 'subscribe-resource-provider', 'withdraw-resource-offer'] as const;
export type SolverAction = (typeof solverActions)[number];

export const MAX_REQUEST_TTL_SECONDS = 600n;

export interface SolverRequest {
  /** Who the request speaks for: a resource provider or a job creator (a key or an ERC-1271 contract). */
  party: Address;
  action: SolverAction;
  /** The job offer or resource offer the action is about; zero when the party itself is the target. */
  target: Hex;
  nonce: bigint;
  expiry: bigint;
  signature: Hex;
}

/** What signs requests: a viem wallet client or local account (for a contract party, its ERC-1271 signer). */
export interface RequestSigner {
  signTypedData(args: {
    domain: ReturnType<typeof offerDomain>;
    types: typeof solverRequestTypes;
    primaryType: 'SolverRequest';
    message: Omit<SolverRequest, 'signature'>;
  }): Promise<Hex>;
}

export async function signSolverRequest(
  signer: RequestSigner,
  domain: OfferDomain,
  request: { party: Address; action: SolverAction; target?: Hex; ttlSeconds?: number },
): Promise<SolverRequest> {
  const message = {
    party: request.party,
    action: request.action,
    target: request.target ?? zeroHash,
    nonce: randomNonce(),
    expiry: secondsFromNow(request.ttlSeconds ?? 300),
  };
  const signature = await signer.signTypedData({ domain: offerDomain(domain.chainId, domain.dealsAddress), types: solverRequestTypes, primaryType: 'SolverRequest', message });
  return { ...message, signature };
}

const uint256 = z
  .union([z.string().regex(/^\d{1,78}$/, 'expected a whole number of at most 78 digits'), z.number().int().nonnegative()])
  .transform((v) => BigInt(v))
  .refine((v) => v < 2n ** 256n, 'must be at most 2^256 - 1 (a uint256)');

const requestSchema = z.object({
  party: z.string().refine((v) => isAddress(v, { strict: false }), 'expected an address').transform((v) => getAddress(v)),
  action: z.enum(solverActions),
  target: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected a 32-byte hex value').transform((v) => v.toLowerCase() as Hex),
  nonce: uint256,
  expiry: uint256,
  signature: z.string().regex(/^0x[0-9a-fA-F]{2,2048}$/, 'expected a hex signature').transform((v) => v as Hex),
});

export function parseSolverRequest(value: unknown): SolverRequest | string {
  const parsed = requestSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return `signed request is malformed at ${first?.path.join('.') || '(root)'}: ${first?.message ?? 'invalid'}`;
  }
  return parsed.data;
}

export function solverRequestHash(domain: OfferDomain, request: Omit<SolverRequest, 'signature'>): Hex {
  return hashTypedData({
    domain: offerDomain(domain.chainId, domain.dealsAddress),
    types: solverRequestTypes,
    primaryType: 'SolverRequest',
    message: { party: request.party, action: request.action, target: request.target, nonce: request.nonce, expiry: request.expiry },
  });
}

/**
 * Checks a request's action, target, time and signature; returns why it is refused, or undefined. The
 * nonce is the caller's to spend (once, in the solver's store) after this passes.
 */
export async function checkSolverRequest(
  domain: OfferDomain,
  request: SolverRequest,
  expected: { action: SolverAction; target?: Hex; nowSeconds: bigint },
  verifier?: SignatureVerifier,
): Promise<string | undefined> {
  if (request.action !== expected.action) return `signed request is for ${request.action}, not ${expected.action}`;
  if ((expected.target ?? zeroHash).toLowerCase() !== request.target.toLowerCase()) return 'signed request is for another target';
  if (request.expiry <= expected.nowSeconds) return 'signed request has expired; sign a fresh one';
  if (request.expiry > expected.nowSeconds + MAX_REQUEST_TTL_SECONDS) return `signed request expires too late (at most ${MAX_REQUEST_TTL_SECONDS} s ahead)`;
  const hash = solverRequestHash(domain, request);
  const args = { address: request.party, hash, signature: request.signature };
  const valid = await (verifier ? verifier.verifyHash(args) : verifyHash(args)).catch(() => false);
  return valid ? undefined : `signature does not match party ${request.party}`;
}
