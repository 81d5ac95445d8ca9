/**
 * Job offers, resource offers and deals as they travel between roles. On the wire every bigint is a
 * decimal string; `parseJobOffer`/`parseResourceOffer` check the shape and give typed values back.
 */
import { getAddress, hashTypedData, isAddress, verifyHash, type Address, type Hex, type PublicClient } from 'viem';
import { z } from 'zod';
import { matchAcceptanceTypes, offerDomain, offerTypes, type SignedJobOfferTerms, type SignedResourceOfferTerms } from './eip712.js';
import { detailsHashOf, inputsHashOf, moduleIdOf, type ModuleRef } from './ids.js';
import type { Engine, MachineSpec } from './machine.js';

export interface JobOffer {
  terms: SignedJobOfferTerms;
  /** The name the user typed, for display only; `module` is what counts. */
  moduleName: string;
  module: ModuleRef;
  inputs: Record<string, string>;
  /** What the rendered module asks for; every provider checks it by rendering the module itself. */
  machine: MachineSpec;
  engine: Engine;
  /**
   * The job creator's IPFS node (multiaddrs ending in /p2p/<id>), which holds the job's inputs; the provider
   * and the mediator dial it to fetch them. Signed with the details; absent when it runs none.
   */
  ipfsPeers?: string[];
  signature: Hex;
}

export interface ResourceOfferDetails {
  machine: MachineSpec;
  engines: Engine[];
  /** Module names or module ids the provider runs; empty means all. */
  modules: string[];
  /**
   * Module names or module ids the provider refuses even when `modules` allows them (those `lilypad module
   * test` flagged as not deterministic). Signed like the rest, so the solver never matches them; absent when
   * none, which keeps the details hash of offers made before refusals existed.
   */
  refusedModules?: string[];
  /**
   * How long (s) after its deal ends the provider keeps a result's blocks: until when a job creator may come
   * back for it. Signed like the rest; absent in offers made before it was said, which keeps their hash.
   */
  resultsKeptSeconds?: number;
  /** Where the provider serves result blocks (trustless-gateway style). */
  resultsUrl: string;
  /** The provider's IPFS node, which serves its results (and the inputs it fetched) over libp2p; absent when it runs none. */
  ipfsPeers?: string[];
}

export interface ResourceOffer {
  terms: SignedResourceOfferTerms;
  details: ResourceOfferDetails;
  signature: Hex;
}

/** Where the offers are signed for: the chain and the deal contract that checks them. */
export interface OfferDomain {
  chainId: number;
  dealsAddress: Address;
}

const uint = z
  .union([z.string().regex(/^\d{1,78}$/, 'expected a whole number of at most 78 digits'), z.number().int().nonnegative(), z.bigint().nonnegative()])
  .transform((v) => BigInt(v))
  .refine((v) => v < 2n ** 256n, 'must be at most 2^256 - 1 (a uint256)');
// Any case is taken (strict: false), as the signer may not checksum; the value is checksummed once here.
const address = z.string().refine((v) => isAddress(v, { strict: false }), 'expected a 0x-prefixed 20-byte address').transform((v) => getAddress(v));
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'expected a 0x-prefixed 32-byte hex value').transform((v) => v.toLowerCase() as Hex);
const hex = z.string().regex(/^0x[0-9a-fA-F]*$/, 'expected hex').transform((v) => v as Hex);
const engine = z.enum(['wasm', 'docker']);
/** At most 8 multiaddrs of a peer's IPFS node: a role dials them, so an offer may not name a crowd. */
const ipfsPeers = z.array(z.string().min(1).max(512)).max(8).optional();

const machineSchema = z.object({
  cpu: z.number().nonnegative(),
  gpu: z.number().nonnegative(),
  ram: z.number().nonnegative(),
  gpuMemory: z.number().nonnegative().optional(),
});

/** The longest input name and value (UTF-16 code units) a job offer may carry; the CLI checks them before posting. */
export const INPUT_LIMITS = { keyLength: 256, valueLength: 65536 } as const;

const jobOfferSchema = z.object({
  terms: z.object({
    jobCreator: address,
    moduleId: bytes32,
    inputsHash: bytes32,
    detailsHash: bytes32,
    maxPrice: uint,
    minCollateral: uint,
    mediators: z.array(address).min(1).max(16),
    mediatorSeedHash: bytes32,
    mediationFee: uint,
    submitTimeout: uint,
    judgeWindow: uint,
    mediationTimeout: uint,
    nonce: uint,
    expiry: uint,
  }),
  moduleName: z.string().max(512),
  module: z.object({ repository: z.string().max(1024), commit: z.string().max(256), path: z.string().max(1024) }),
  inputs: z.record(z.string().max(INPUT_LIMITS.keyLength), z.string().max(INPUT_LIMITS.valueLength)),
  machine: machineSchema,
  engine,
  ipfsPeers,
  signature: hex,
});

const resourceOfferSchema = z.object({
  terms: z.object({
    resourceProvider: address,
    price: uint,
    collateralMultiple: uint,
    capacity: uint,
    mediators: z.array(address).min(1).max(16),
    minSubmitTimeout: uint,
    maxJudgeWindow: uint,
    maxMediationTimeout: uint,
    detailsHash: bytes32,
    nonce: uint,
    expiry: uint,
  }),
  details: z.object({
    machine: machineSchema,
    engines: z.array(engine),
    modules: z.array(z.string().max(1024)).max(1024),
    refusedModules: z.array(z.string().max(1024)).max(1024).optional(),
    resultsKeptSeconds: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
    resultsUrl: z.string().url(),
    ipfsPeers,
  }),
  signature: hex,
});

export class OfferError extends Error {
  override name = 'OfferError';
}

function describeZodError(what: string, error: z.ZodError): string {
  const first = error.issues[0];
  const where = first?.path.length ? first.path.join('.') : '(root)';
  return `${what} is malformed at ${where}: ${first?.message ?? 'invalid'}`;
}

/** Parses a wire job offer and checks that its details match the hashes its creator signed. */
export function parseJobOffer(value: unknown): JobOffer {
  const parsed = jobOfferSchema.safeParse(value);
  if (!parsed.success) throw new OfferError(describeZodError('job offer', parsed.error));
  const offer = parsed.data as JobOffer;
  if (moduleIdOf(offer.module) !== offer.terms.moduleId) throw new OfferError('job offer moduleId does not match its module');
  if (inputsHashOf(offer.inputs) !== offer.terms.inputsHash) throw new OfferError('job offer inputsHash does not match its inputs');
  if (jobOfferDetailsHashOf(offer) !== offer.terms.detailsHash) throw new OfferError('job offer detailsHash does not match its module name, machine and engine');
  return offer;
}

/** A job offer as public listings show it: everything but its inputs, which are its creator's business. */
export type PublicJobOffer = Omit<JobOffer, 'inputs'>;

export function publicJobOffer(offer: JobOffer): PublicJobOffer {
  const { inputs: _inputs, ...shown } = offer;
  return shown;
}

/**
 * Parses a public job offer and checks that its module and details match the hashes its creator signed
 * (the inputs, left out, are bound by `inputsHash` alone).
 */
export function parsePublicJobOffer(value: unknown): PublicJobOffer {
  const parsed = jobOfferSchema.omit({ inputs: true }).safeParse(value);
  if (!parsed.success) throw new OfferError(describeZodError('job offer', parsed.error));
  const offer = parsed.data as PublicJobOffer;
  if (moduleIdOf(offer.module) !== offer.terms.moduleId) throw new OfferError('job offer moduleId does not match its module');
  if (jobOfferDetailsHashOf(offer) !== offer.terms.detailsHash) throw new OfferError('job offer detailsHash does not match its module name, machine and engine');
  return offer;
}

/**
 * The job offer's details that its `detailsHash` signs: everything a role acts on beyond module and inputs.
 * `ipfsPeers` counts only when present, which keeps the hash of offers made before it existed.
 */
export function jobOfferDetailsHashOf(offer: Pick<JobOffer, 'moduleName' | 'machine' | 'engine' | 'ipfsPeers'>): Hex {
  const { moduleName, machine, engine, ipfsPeers } = offer;
  return detailsHashOf({ moduleName, machine, engine, ...(ipfsPeers ? { ipfsPeers } : {}) });
}

export function parseResourceOffer(value: unknown): ResourceOffer {
  const parsed = resourceOfferSchema.safeParse(value);
  if (!parsed.success) throw new OfferError(describeZodError('resource offer', parsed.error));
  const offer = parsed.data as ResourceOffer;
  if (detailsHashOf(offer.details) !== offer.terms.detailsHash) throw new OfferError('resource offer detailsHash does not match its details');
  return offer;
}

/** JSON form: bigints as decimal strings. */
export function toWire<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

export function jobOfferId(domain: OfferDomain, terms: SignedJobOfferTerms): Hex {
  return hashTypedData({ domain: offerDomain(domain.chainId, domain.dealsAddress), types: offerTypes, primaryType: 'JobOffer', message: terms });
}

export function resourceOfferId(domain: OfferDomain, terms: SignedResourceOfferTerms): Hex {
  return hashTypedData({ domain: offerDomain(domain.chainId, domain.dealsAddress), types: offerTypes, primaryType: 'ResourceOffer', message: terms });
}

/** The typed data of a job creator's acceptance of a match (see `matchAcceptanceTypes`). */
export function matchAcceptanceTypedData(domain: OfferDomain, dealId: Hex, resourceOfferId: Hex) {
  return {
    domain: offerDomain(domain.chainId, domain.dealsAddress),
    types: matchAcceptanceTypes,
    primaryType: 'MatchAcceptance',
    message: { dealId, resourceOfferId },
  } as const;
}

/** Whether `signature` is the job creator's acceptance of this deal's match (ERC-1271 through `verifier`). */
export async function verifyMatchAcceptance(domain: OfferDomain, deal: { dealId: Hex; resourceOffer: ResourceOffer; jobOffer: JobOffer }, signature: Hex, verifier?: SignatureVerifier): Promise<boolean> {
  const hash = hashTypedData(matchAcceptanceTypedData(domain, deal.dealId, resourceOfferId(domain, deal.resourceOffer.terms)));
  return signedBy(deal.jobOffer.terms.jobCreator, hash, signature, verifier);
}

/**
 * Checks signatures the way the chain will: given a client that can read the chain (viem's
 * `publicClient.verifyTypedData`), a contract signer is asked through ERC-1271, so contracts can be job
 * creators; without one, only signatures of plain keys pass.
 */
export type SignatureVerifier = Pick<PublicClient, 'verifyHash'>;

/**
 * A plain key's signature is checked here, with no call to the chain; only one that is not (a contract's,
 * through ERC-1271) is asked of the chain, when a verifier is given.
 */
async function signedBy(address: Address, hash: Hex, signature: Hex, verifier?: SignatureVerifier): Promise<boolean> {
  if (await verifyHash({ address, hash, signature }).catch(() => false)) return true;
  return verifier ? verifier.verifyHash({ address, hash, signature }).catch(() => false) : false;
}

export async function verifyJobOfferSignature(domain: OfferDomain, offer: JobOffer, verifier?: SignatureVerifier): Promise<boolean> {
  return signedBy(offer.terms.jobCreator, jobOfferId(domain, offer.terms), offer.signature, verifier);
}

export async function verifyResourceOfferSignature(domain: OfferDomain, offer: ResourceOffer, verifier?: SignatureVerifier): Promise<boolean> {
  return signedBy(offer.terms.resourceProvider, resourceOfferId(domain, offer.terms), offer.signature, verifier);
}

/** A fresh random nonce: offers are never replayable, and nonces need no coordination. */
export function randomNonce(): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return BigInt('0x' + Buffer.from(bytes).toString('hex'));
}
