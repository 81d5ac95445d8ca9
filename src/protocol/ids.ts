/**
 * Ids that bind off-chain details to the signed on-chain terms: a module id, an inputs hash and a
 * resource offer's details hash. Everyone recomputes them instead of trusting what they are sent.
 */
import { encodeAbiParameters, keccak256, stringToBytes, type Hex } from 'viem';
import { canonicalJson } from './canonical-json.js';

/** Where a module comes from: a repository, an exact commit (or content CID) and a folder inside it. */
export interface ModuleRef {
  repository: string;
  commit: string;
  path: string;
}

export function moduleIdOf(ref: ModuleRef): Hex {
  return keccak256(
    encodeAbiParameters([{ type: 'string' }, { type: 'string' }, { type: 'string' }], [ref.repository, ref.commit, ref.path]),
  );
}

export function inputsHashOf(inputs: Record<string, string>): Hex {
  return keccak256(stringToBytes(canonicalJson(inputs)));
}

export function detailsHashOf(details: unknown): Hex {
  return keccak256(stringToBytes(canonicalJson(details)));
}
