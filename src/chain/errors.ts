/**
 * Turns what viem throws into a ChainError whose message a user can read: a contract revert becomes
 * "agreeDeal reverted: OfferExpired(digest=0x…, expiry=…, currentTime=…)".
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  HttpRequestError,
  decodeErrorResult,
  type Abi,
  type Hex,
  type TransactionReceipt,
} from 'viem';
import { ChainError } from '../lib/errors.js';
import { ChainNotAnsweringError } from './clients.js';
import { lilypadDealsAbi, lilypadRegistryAbi, lilypadTokenAbi } from './generated/contracts.js';
import { dealStateNames } from './deal-state.js';

type AbiError = Extract<Abi[number], { type: 'error' }>;

/** Every custom error either contract can raise (the deals contract also bubbles up the token's). */
const knownErrors: Abi = [...lilypadDealsAbi, ...lilypadTokenAbi, ...lilypadRegistryAbi].filter((item) => item.type === 'error');

function formatValue(value: unknown, internalType: string | undefined): string {
  if (internalType?.startsWith('enum LilypadDeals.DealState') && typeof value === 'number') {
    return dealStateNames[value] ?? String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map((v) => formatValue(v, undefined)).join(', ')}]`;
  return String(value);
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  return value;
}

function decodeRevert(revert: ContractFunctionRevertedError): { errorName: string; args: unknown[]; abiItem?: AbiError } | undefined {
  if (revert.data && revert.data.errorName !== 'Error' && revert.data.errorName !== 'Panic') {
    return {
      errorName: revert.data.errorName,
      args: [...(revert.data.args ?? [])],
      abiItem: revert.data.abiItem as AbiError,
    };
  }
  if (revert.raw && !revert.data) {
    try {
      const decoded = decodeErrorResult({ abi: knownErrors, data: revert.raw as Hex });
      return { errorName: decoded.errorName, args: [...(decoded.args ?? [])], abiItem: decoded.abiItem as AbiError };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Wraps any error from a contract call or transaction as a ChainError; ChainErrors pass through. */
export function toChainError(error: unknown, action: string): ChainError {
  if (error instanceof ChainError) return error;
  if (error instanceof BaseError) {
    const revert = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (revert instanceof ContractFunctionRevertedError) {
      const decoded = decodeRevert(revert);
      if (decoded) {
        const inputs = decoded.abiItem?.inputs ?? [];
        const shown = decoded.args
          .map((arg, i) => `${inputs[i]?.name || `arg${i}`}=${formatValue(arg, inputs[i]?.internalType)}`)
          .join(', ');
        return new ChainError(`${action} reverted: ${decoded.errorName}(${shown})`, {
          code: 'contract-reverted',
          details: { action, errorName: decoded.errorName, args: decoded.args.map(jsonSafe) },
          cause: error,
        });
      }
      const reason = revert.reason ?? revert.shortMessage;
      return new ChainError(`${action} reverted: ${reason}`, {
        code: 'contract-reverted',
        details: { action, reason },
        cause: error,
      });
    }
    // The transport's own message ("the chain at URL does not answer") says more than viem's wrapping of it.
    const notAnswering = error.walk((e) => e instanceof ChainNotAnsweringError);
    if (notAnswering instanceof ChainNotAnsweringError) {
      return new ChainError(`${action} failed: ${notAnswering.shortMessage}`, { code: 'rpc-unreachable', retryable: true, details: { action }, cause: error });
    }
    const unreachable = error.walk((e) => e instanceof HttpRequestError);
    // viem already strips credentials from URLs in its messages; the cause keeps the details.
    return new ChainError(`${action} failed: ${error.shortMessage.replace(/\/\/[^/\s:@]+:[^/\s@]+@/g, '//')}`, {
      code: unreachable ? 'rpc-unreachable' : 'transaction-failed',
      retryable: Boolean(unreachable),
      details: { action },
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ChainError(`${action} failed: ${message}`, { code: 'internal', details: { action }, cause: error });
}

/** Throws when a mined transaction reverted (possible when state changed between estimate and mining). */
export function assertSucceeded(receipt: TransactionReceipt, action: string): void {
  if (receipt.status !== 'success') {
    throw new ChainError(`${action} reverted in block ${receipt.blockNumber} (transaction ${receipt.transactionHash})`, {
      code: 'transaction-reverted',
      details: { action, transactionHash: receipt.transactionHash, blockNumber: receipt.blockNumber.toString() },
    });
  }
}
